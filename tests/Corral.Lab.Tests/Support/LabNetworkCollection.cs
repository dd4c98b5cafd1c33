namespace Corral.Lab.Tests.Support;

/// <summary>Tests that run lab passes (port 443 on loopback, namespaces, iptables) one at a time: they share the host's network.</summary>
[CollectionDefinition(Name)]
public sealed class LabNetworkCollection
{
    public const string Name = "lab network";
}
