namespace Corral.Terraform.Mapping;

/// <summary>What Aviatrix documents as the most a group can hold; the module stays inside it or says why not.</summary>
public static class AviatrixLimits
{
    /// <summary>
    /// CIDRs a smart group can enforce: "At this time the maximum number of CIDRs that can be enforced in a SmartGroup
    /// is 10,000" (Aviatrix documentation, Controller 8.2, "SmartGroups": concepts-architectures/components/dcf/smartgroups-about).
    /// </summary>
    public const int SmartGroupCidrs = 10_000;

    public const string SmartGroupCidrsSource = "Aviatrix documentation (Controller 8.2, SmartGroups): at most 10,000 CIDRs enforced in a SmartGroup";

    /// <summary>
    /// Aviatrix documents no number for web groups (its WebGroups pages for 8.2 and later say none); past this many
    /// entries the module still carries them all but says the controller's acceptance is unconfirmed.
    /// </summary>
    public const int WebGroupEntriesUnconfirmed = SmartGroupCidrs;
}
