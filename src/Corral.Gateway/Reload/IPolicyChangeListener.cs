namespace Corral.Gateway.Reload;

/// <summary>
/// Told by <see cref="PolicyApplier"/> after each reported attempt to change the policy, on the reloading thread
/// (off the flow path): keep it quick. A listener that throws is logged and skipped; the change stands.
/// </summary>
public interface IPolicyChangeListener
{
    /// <summary>A policy from <paramref name="source"/> is in force; <paramref name="changed"/> is false when it already was.</summary>
    void Applied(ReloadStatus status, ReloadSource source, bool changed);

    /// <summary>A policy from <paramref name="failure"/>'s source was refused; the previous one stays in force.</summary>
    void Refused(ReloadStatus status, ReloadFailure failure);
}
