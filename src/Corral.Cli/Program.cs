using Corral.Cli;

return CorralCommand.Run(args, Console.Out, Console.Error);
