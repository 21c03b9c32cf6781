using Activations.Coordinator.Cli;

return await CoordinatorCommands.Build().Parse(args).InvokeAsync();
