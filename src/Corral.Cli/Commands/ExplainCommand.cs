using System.CommandLine;
using System.Net;
using Corral.Policy.Addressing;
using Corral.Policy.Compilation;
using Corral.Policy.Linting;
using Corral.Policy.Model;

namespace Corral.Cli.Commands;

/// <summary><c>corral explain</c>: which rule decides a flow, and why each rule before it did not.</summary>
internal static class ExplainCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var policy = CommonOptions.PolicyArgument();
        var src = new Option<string?>("--src") { Description = "The agent's source address (required without --flows)" };
        var dst = new Option<string?>("--dst") { Description = "The destination host name or IP address (required without --flows)" };
        var port = new Option<int>("--port") { Description = "The destination port", DefaultValueFactory = _ => 443 };
        var resolved = new Option<string[]>("--resolved") { Description = "An address the name resolves to (repeatable); without it, a public address is assumed" };
        var path = new Option<string?>("--path") { Description = "The request path and query as sent, seen in plain HTTP or decrypted TLS (for URL filters)" };
        var protocol = new Option<string>("--protocol") { Description = "tcp, udp or icmp", DefaultValueFactory = _ => "tcp" };
        protocol.AcceptOnlyFromAmong("tcp", "udp", "icmp");
        var plain = new Option<bool>("--plain") { Description = "The flow is not TLS (default: TLS on port 443)" };
        var json = new Option<bool>("--json") { Description = "Print the verdict as JSON" };
        var flows = new Option<string?>("--flows")
        {
            Description = "Explain many flows with one compile: a file of JSON lines ('-' for standard input), each "
                + """{"src":"10.20.1.5","dst":"mcr.microsoft.com","port":443,"resolved":["…"],"path":"/…","protocol":"tcp","plain":false} """
                + "(src and dst required; the rest as the options above) or a flow-log record with facts; prints one verdict line per input line",
        };
        var agent = new Option<string?>("--agent") { Description = "The agent the client authenticates as on the explicit listener (a name in the policy's agents section)" };
        var mcpTool = new Option<string?>("--mcp-tool") { Description = "An MCP tools/call for this tool name, carried by the flow (decided by the matching rule's mcp section)" };
        var standIns = CommonOptions.PublicStandInOption();
        var lint = new Option<string?>("--lint") { Description = "Explain a warning of 'corral check' instead: what it finds, why it matters, what to do (the CODE at the end of its line)" };
        var command = new Command("explain", "Explain which rule decides a flow, or a warning of 'corral check' (--lint CODE)") { policy, src, dst, port, resolved, path, protocol, plain, json, flows, standIns, mcpTool, agent, lint };
        command.SetAction(parse =>
        {
            if (parse.GetValue(lint) is { } code) return ExplainLint(code, stdout, stderr);
            if (!CommonOptions.TryParseStandIns(parse.GetValue(standIns), out var prefixes, out var standInError))
            {
                stderr.WriteLine($"corral explain: {standInError}");
                return CorralCommand.UsageError;
            }
            var options = new CompileOptions { PublicStandIns = prefixes };
            if (parse.GetValue(flows) is { } flowsPath)
            {
                if (parse.GetValue(src) is not null || parse.GetValue(dst) is not null)
                {
                    stderr.WriteLine("corral explain: --flows takes the flows from the file; leave out --src and --dst");
                    return CorralCommand.UsageError;
                }
                return ExplainFlows.Run(parse.GetValue(policy)!, options, flowsPath, stdout, stderr);
            }
            if (parse.GetValue(src) is null || parse.GetValue(dst) is null)
            {
                stderr.WriteLine("corral explain: --src and --dst are required (or --flows FILE)");
                return CorralCommand.UsageError;
            }
            if (!TryBuildFlow(parse.GetValue(src)!, parse.GetValue(dst)!, parse.GetValue(port), parse.GetValue(resolved) ?? [], parse.GetValue(path),
                    parse.GetValue(protocol)!, parse.GetValue(plain), out var flow, out var error))
            {
                stderr.WriteLine($"corral explain: {error}");
                return CorralCommand.UsageError;
            }
            if (!CommonOptions.TryCompile("explain", parse.GetValue(policy)!, stderr, out var result, options)) return CorralCommand.InputError;
            if (parse.GetValue(agent) is { } agentName)
            {
                if (result.Compiled!.Agents.Find(agentName) is not { } known)
                {
                    var hint = Corral.Policy.Diagnostics.Suggest.DidYouMean(agentName, result.Compiled.Agents.All.Select(a => a.Name)) is { } h ? $" ({h})" : "";
                    stderr.WriteLine($"corral explain: the policy has no agent '{agentName}'{hint}");
                    return CorralCommand.UsageError;
                }
                // The gateway takes an agent's token only from inside its CIDRs: from elsewhere the flow is a 407, not this agent's.
                if (!known.MayConnectFrom(flow.Source))
                {
                    stdout.WriteLine($"agent: {agentName}'s token is refused from {flow.Source}, outside the agent's CIDRs: the gateway answers 407 ({Corral.Interception.Http.GatewayCheck.AgentUnauthenticated})");
                    return CorralCommand.Ok;
                }
                flow = flow with { Agent = agentName };
            }
            var explanation = result.Compiled!.Explain(flow);
            var tool = parse.GetValue(mcpTool);
            var call = tool is null ? null : McpCallExplanation.Of(explanation.Verdict, tool);
            var credentials = CredentialExplanation.Of(result.Compiled, flow, explanation.Verdict);
            if (parse.GetValue(json)) WriteJson(stdout, explanation, call, credentials);
            else
            {
                WriteText(stdout, explanation);
                if (call is not null) stdout.WriteLine(call.Text);
                foreach (var credential in credentials) stdout.WriteLine(credential.Text);
            }
            return CorralCommand.Ok;
        });
        return command;
    }

    /// <summary><c>explain --lint CODE</c>: the long form of a warning; an unknown code lists the known ones.</summary>
    private static int ExplainLint(string code, TextWriter stdout, TextWriter stderr)
    {
        if (LintCatalog.Find(code.Trim().Trim('[', ']')) is not { } lint)
        {
            var codes = LintCatalog.All.Select(l => l.Code).ToList();
            var didYouMean = Corral.Policy.Diagnostics.Suggest.DidYouMean(code, codes) is { } hint ? $" ({hint})" : "";
            stderr.WriteLine($"corral explain: no lint '{code}'{didYouMean}; the lints: {string.Join(", ", codes)}");
            return CorralCommand.UsageError;
        }
        stdout.WriteLine($"{lint.Code}: {lint.Finds}");
        stdout.WriteLine();
        stdout.WriteLine($"Why: {lint.Why}");
        stdout.WriteLine();
        stdout.WriteLine($"What to do: {CommonOptions.AsInvoked(lint.WhatToDo)}");
        return CorralCommand.Ok;
    }

    /// <summary>Builds a flow from explain's options (or the same fields of a --flows line); the error names the option.</summary>
    internal static bool TryBuildFlow(string src, string dst, int port, string[] resolved, string? path, string protocol, bool plain, out Flow flow, out string? error)
    {
        flow = default;
        if (!IpLiteral.TryParse(src, out var source)) { error = $"--src '{src}' is not an IP address"; return false; }
        if (!Destination.TryParse(dst, out var destination, out error)) { error = $"--dst '{dst}': {error}"; return false; }
        if (port is < 0 or > 65535) { error = $"--port {port} is out of range (1-65535)"; return false; }
        var addresses = new List<IPAddress>();
        foreach (var r in resolved)
        {
            if (!IpLiteral.TryParse(r, out var a)) { error = $"--resolved '{r}' is not an IP address"; return false; }
            addresses.Add(a);
        }
        if (destination.Address is { } literal)
        {
            if (addresses.Count > 0) { error = "--resolved applies to host names; --dst is already an address"; return false; }
            addresses.Add(literal);
        }
        // The path goes to the policy as a client sent it; one that cannot be normalized matches no URL filter, and
        // explain says so on the rules it concerns.
        if (path is not null && !path.StartsWith('/')) { error = $"--path '{path}' must be a request target's path, starting with '/'"; return false; }
        flow = new Flow
        {
            Source = source,
            Host = destination.Host,
            Destinations = addresses,
            Port = port,
            Protocol = protocol switch { "udp" => FlowProtocol.Udp, "icmp" => FlowProtocol.Icmp, _ => FlowProtocol.Tcp },
            Path = path,
            IsTls = !plain && port == 443 && protocol == "tcp",
            AssumePublicIfUnresolved = true,
        };
        error = null;
        return true;
    }

    private static void WriteText(TextWriter o, Explanation e)
    {
        var f = e.Flow;
        var target = f.Host ?? f.Destinations[0].ToString();
        o.WriteLine($"flow: {f.Source}{(f.Agent is null ? "" : $" as agent {f.Agent}")} -> {target}:{f.Port} ({f.Protocol.ToString().ToLowerInvariant()}{(f.IsTls == true ? ", tls" : "")}{(f.Path is null ? "" : ", path " + f.Path)})");
        foreach (var a in e.Addresses)
        {
            var address = a.Address?.ToString() ?? "unresolved (taken as a public address in no smart group)";
            o.WriteLine($"address {address}: in {string.Join(", ", a.Groups)}{(a.GuardedBecause is null ? "" : $"; {a.GuardedBecause}")}");
            foreach (var step in a.Steps)
                o.WriteLine($"  {(step.Matched ? "match" : "  -  ")} {step.Rule.Priority,4} {step.Rule.Name,-28} {step.Detail}");
            if (a.Verdict.Rule is null) o.WriteLine($"  match    - (defaultAction)                {DescribeAction(a.Verdict)}");
        }
        var v = e.Verdict;
        o.WriteLine($"verdict: {DescribeAction(v)}{(v.Rule is null ? " (default action)" : $" by {v.Rule.Name} (priority {v.Rule.Priority})")}" +
                    $"{(v.Enforced ? "" : ", NOT enforced (watch mode)")}{(v.Decrypt ? ", decrypted (when a CA is configured)" : ", not decrypted")}");
        o.WriteLine($"reason: {v.ReasonText}");
        // Only a decrypted flow's upgrade is the gateway's to allow or refuse; a spliced one passes unread.
        if (v is { LetsThrough: true, Decrypt: true, Rule: { } rule })
            o.WriteLine(rule.AllowsWebSocket
                ? $"websocket: allowed by {rule.Name} (each message the agent sends is inspected)"
                : $"websocket: refused (rule {rule.Name} has no 'websocket: allow')");
    }

    private static string DescribeAction(Verdict v) => v.Action == RuleAction.Permit ? "permit" : "deny";

    private static void WriteJson(TextWriter o, Explanation e, McpCallExplanation? call, IReadOnlyList<CredentialExplanation> credentials) => CommonOptions.WriteJson(o, w =>
    {
        w.WriteStartObject();
        VerdictJson.WriteProperties(w, e.Verdict);
        // As the text says it: only for a flow the gateway decrypts, where an upgrade is the gateway's to decide.
        if (e.Verdict is { LetsThrough: true, Decrypt: true, Rule: { } wsRule }) w.WriteBoolean("websocket", wsRule.AllowsWebSocket);
        if (e.Flow.Agent is { } agent) w.WriteString("agent", agent);
        if (call is not null)
        {
            w.WriteStartObject("mcp");
            w.WriteString("method", CompiledMcpRules.ToolsCall);
            w.WriteString("tool", call.Tool);
            w.WriteString("action", call.Allowed ? "permit" : "deny");
            w.WriteString("reason", call.Reason);
            w.WriteEndObject();
        }
        if (credentials.Count > 0)
        {
            w.WriteStartArray("credentials");
            foreach (var c in credentials)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Credential.Name);
                w.WriteString("placeholder", c.Credential.Placeholder);
                w.WriteString("placement", c.Credential.Placement.ToString());
                w.WriteString("source", c.Credential.Credential.Source.ToString());
                w.WriteBoolean("injected", c.Injected);
                if (c.Why is not null) w.WriteString("why", c.Why);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }, indented: false);
}

/// <summary>What the gateway would do with an MCP tools/call for one tool inside a flow with this verdict.</summary>
internal sealed record McpCallExplanation(string Tool, bool Allowed, string Reason)
{
    public static McpCallExplanation Of(in Verdict verdict, string tool)
    {
        if (!verdict.LetsThrough) return new(tool, false, "the flow itself is denied");
        if (verdict.Rule?.Mcp is not { } mcp)
            return new(tool, true, $"rule '{verdict.Rule?.Name ?? "(default)"}' has no mcp section: any tool passes (payload inspection still applies when decrypted)");
        var decision = mcp.Decide(CompiledMcpRules.ToolsCall, tool);
        var watched = !verdict.Enforced && !decision.Allowed ? " (watch mode: logged, not enforced)" : "";
        return new(tool, decision.Allowed, $"{decision.ReasonText} of rule '{verdict.Rule!.Name}'{watched}");
    }

    public string Text => $"mcp: tools/call {Tool}: {(Allowed ? "permit" : "deny")} ({Reason})";
}

/// <summary>
/// A credential bound to the flow's destination, and whether the gateway would put its value in: only into a request
/// it decrypts (an enforced permit that may decrypt). Names the source, never the value.
/// </summary>
internal sealed record CredentialExplanation(CompiledCredential Credential, bool Injected, string? Why)
{
    public static IReadOnlyList<CredentialExplanation> Of(CompiledPolicy policy, Flow flow, in Verdict verdict)
    {
        if (flow.Host is null || policy.Credentials.IsEmpty) return [];
        var why = !verdict.LetsThrough || verdict.Action != RuleAction.Permit ? "the flow is denied"
            : !verdict.Enforced ? "the rule is in watch mode, so the flow is spliced, not decrypted"
            : !verdict.Decrypt ? "the flow is not decrypted"
            : flow.IsTls != true ? "only into decrypted TLS, never plain HTTP"
            : null;
        return policy.Credentials.BoundTo(flow.Host, flow.Path ?? "/").Select(c => new CredentialExplanation(c, why is null, why)).ToList();
    }

    public string Text => Injected
        ? $"credential: {Credential.Name}: the placeholder {Credential.Placeholder} in {Credential.Placement} becomes the value from {Credential.Credential.Source}"
        : $"credential: {Credential.Name}: not put in ({Why})";
}
