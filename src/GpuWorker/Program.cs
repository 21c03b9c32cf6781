Console.WriteLine("Activations GpuWorker");
