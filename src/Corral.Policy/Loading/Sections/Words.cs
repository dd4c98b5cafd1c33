using Corral.Policy.Model;

namespace Corral.Policy.Loading.Sections;

/// <summary>The words a policy writes for its enumerated values, in the order error messages list them.</summary>
internal static class Words
{
    public static readonly (string, RuleAction)[] Actions = [("permit", RuleAction.Permit), ("deny", RuleAction.Deny)];
    public static readonly (string, RuleProtocol)[] Protocols = [("any", RuleProtocol.Any), ("tcp", RuleProtocol.Tcp), ("udp", RuleProtocol.Udp), ("icmp", RuleProtocol.Icmp)];
    public static readonly (string, DecryptPolicy)[] Decrypt = [("not-allowed", DecryptPolicy.NotAllowed), ("allowed", DecryptPolicy.Allowed)];
    public static readonly (string, RuleMode)[] Modes = [("enforce", RuleMode.Enforce), ("watch", RuleMode.Watch)];
    public static readonly (string, bool)[] WebSocket = [("deny", false), ("allow", true)];
    public static readonly (string, ToolPinning)[] Pinning = [("false", ToolPinning.Off), ("true", ToolPinning.Flag), ("enforce", ToolPinning.Enforce)];
}
