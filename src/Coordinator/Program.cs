Console.WriteLine("Activations Coordinator");
