namespace Activations.ServiceDefaults;

/// <summary>
/// A server this process needs (the broker, the database) could not be reached, or refused us, within the connect
/// timeout. Hosts print its message alone — which server, masked, and why — and exit with
/// <see cref="ConsoleHost.UnreachableExitCode"/>.
/// </summary>
public sealed class ServiceUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
