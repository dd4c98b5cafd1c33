namespace Corral.Policy.Linting;

/// <summary>What a warning finds, why it matters and what to weigh: the long form of a one-sentence warning.</summary>
/// <param name="Code">The code the warning carries (<c>[code]</c> at the end of its line).</param>
/// <param name="Finds">What the warning is about, in a line.</param>
/// <param name="Why">Why it matters, with the trade-off where there is one.</param>
/// <param name="WhatToDo">The fixes, and when leaving it is fine.</param>
public sealed record LintExplanation(string Code, string Finds, string Why, string WhatToDo);

/// <summary>
/// The explanation of every warning <c>corral check</c> can print. The warnings themselves stay one short sentence
/// that says what to do; <c>corral explain --lint CODE</c> prints the rest. docs/policy.md's Lints table lists the same codes.
/// </summary>
public static class LintCatalog
{
    public static IReadOnlyList<LintExplanation> All { get; } =
    [
        new("shadowed-rule",
            "a rule that can never match: an earlier rule matches every flow it would",
            "Rules are first-match, so the earlier rule decides every flow this one covers; its action, mode and decryption never apply. " +
            "Usually a priority mistake, or a rule made redundant by a broader one.",
            "Remove it, or give it a priority below the broader rule's."),
        new("permit-after-catch-all",
            "a permit placed after a catch-all deny",
            "A catch-all deny (no web group, any port, destination anywhere or public-internet) matches first, so the permit never does and " +
            "the traffic it was meant to allow is denied.",
            "Give the permit a priority below the catch-all's."),
        new("decrypt-pinned",
            "a decrypting permit that would take Microsoft identity or registry names",
            "Microsoft's identity and container-registry clients pin their certificates. Decrypted, token acquisition and image pulls fail, " +
            "and a hosted agent's runtime does not start.",
            "Permit the Microsoft platform names in an earlier rule with 'decrypt: not-allowed' (the Foundry pack's allow-aca-fqdn)."),
        new("platform-not-permitted",
            "Azure Container Apps platform names that the catch-all deny would block",
            "A Foundry hosted agent runs on Azure Container Apps, whose runtime must reach the container registry, the identity endpoints and " +
            "the AKS package mirrors. Blocked, the agent fails to start or to get tokens.",
            "Permit them in an earlier rule with 'decrypt: not-allowed'; 'corral init --template azure-foundry' writes one (allow-aca-fqdn)."),
        new("catch-all-watch",
            "a catch-all deny left in watch mode",
            "A watched rule logs what it would do and lets the flow through, so a catch-all deny in watch mode contains nothing. " +
            "Right while a new policy is validated against real traffic; a hole once it ships.",
            "Replay the watch-mode flow log against the enforced policy ('corral replay'), then remove 'mode: watch' (or set 'mode: enforce')."),
        new("resolves-every-name",
            "a rule that lets flows through by address alone, so the gateway must resolve every name its sources ask for",
            "The gateway decides most flows by name before resolving it. A rule with destination groups and no web group (a permit, or any " +
            "watched rule) could match any name that happens to resolve into its ranges, so in explicit mode (CONNECT, absolute-form HTTP), " +
            "where the address is only known by resolving, every name its sources ask for on its ports is resolved. In transparent mode the " +
            "original destination address is known: such a rule is decided on it and no name is looked up for it. Those explicit-mode lookups leave through DNS, and a name can carry data out (an encoded secret in a label) even when " +
            "the connection is then denied. The trade-off: the rule keeps working for hosts reached by address, at the cost of that DNS channel " +
            "for those sources and ports. With the gateway's resolver (--dns), 'dns: { mode: watch }' (the default) answers names only such a " +
            "rule could reach and flags them; 'mode: enforce' refuses them. docs/policy.md, \"Deciding before resolving\", has the details.",
            "Add a web group naming the hosts the rule is for (then the name must match too), or narrow its sources or ports; with --dns, " +
            "'dns: { mode: enforce }' refuses the names no web group names. Leave it where the DNS channel is an accepted risk."),
        new("watch-url-filter",
            "a watched permit with URL filters",
            "Watched rules are never decrypted, so the gateway cannot see request paths and the URL filters are not checked: every path of those " +
            "hosts passes while the rule is watched.",
            "Enforce the rule to apply its URL filters."),
        new("service-tags-unresolved",
            "service tags the gateway cannot enforce without a Service Tags file",
            "A service tag stands for Microsoft's address ranges, published weekly in ServiceTags_Public_*.json. Aviatrix resolves tags itself " +
            "(the Terraform module carries them as written); the Corral gateway needs the file, and without it a service-tag group holds no " +
            "address there, so rules that name only such groups match nothing on the gateway.",
            "Set serviceTags.file to a copy of Microsoft's weekly ServiceTags_Public_*.json and refresh it weekly (serviceTags.region picks " +
            "regional tags). Leave it when the policy is deployed only on Aviatrix."),
        new("unknown-service-tag",
            "a service tag not in Corral's built-in list (without a Service Tags file)",
            "Without a Service Tags file, tag names are checked against Corral's built-in list, taken from Microsoft's file. A name not in it is " +
            "most likely misspelled, and Aviatrix would refuse it at deploy time.",
            "Fix the spelling (the warning names the closest tag), or set serviceTags.file to a current file that has the tag."),
        new("no-interception-ca",
            "a policy that decrypts but declares no interception CA",
            "A rule with 'decrypt: allowed' ends the agent's TLS at the gateway or the Aviatrix controller, which presents certificates signed " +
            "by the interception CA. Until the agents trust that CA, every decrypted call fails TLS; until the controller has it active, it " +
            "cannot decrypt. Declared in the policy, the CA is checked here (a readable PEM CA certificate, no private key) and 'corral terraform' " +
            "copies it into the module as the default of mitm_ca_certificate_file.",
            "Run 'corral ca init --out corral-ca' (or use your own CA) and set 'tls: { interceptionCa: corral-ca/corral-ca.crt }'; put the " +
            "certificate into the agent image's trust store (docs/trust-store.md). The private key never goes in the policy: the gateway takes it " +
            "with --ca-key, Terraform with mitm_ca_private_key_file. Leave it while the decrypting rules only watch and the CA is managed elsewhere."),
    ];

    /// <summary>The explanation of <paramref name="code"/>, or null.</summary>
    public static LintExplanation? Find(string code) => All.FirstOrDefault(l => l.Code == code);
}
