using System.Text;

namespace Corral.Audit;

/// <summary>Why the gateway wrote a checkpoint.</summary>
public enum CheckpointReason { Interval, Rotation, Start, Shutdown }

/// <summary>
/// A signed checkpoint line: <c>{"v":2,"seq":N,"prev":H,"event":"checkpoint","time":T,"reason":R,"key":K,"sig":S}</c>.
/// The Ed25519 signature <c>S</c> (base64) is over <see cref="Message"/>: the chain position (so every line before it,
/// through the chain), the time, the reason and the key id. The checkpoint is itself a link of the chain.
/// </summary>
public static class Checkpoint
{
    /// <summary>The domain-separation prefix of every signed message.</summary>
    public const string Domain = "corral-flow-log-checkpoint-v1";

    public static string ReasonName(CheckpointReason reason) => reason switch
    {
        CheckpointReason.Rotation => "rotation",
        CheckpointReason.Start => "start",
        CheckpointReason.Shutdown => "shutdown",
        _ => "interval",
    };

    public static CheckpointReason? ParseReason(string? name) => name switch
    {
        "interval" => CheckpointReason.Interval,
        "rotation" => CheckpointReason.Rotation,
        "start" => CheckpointReason.Start,
        "shutdown" => CheckpointReason.Shutdown,
        _ => null,
    };

    /// <summary>The bytes signed: one field a line, in this order, UTF-8.</summary>
    public static byte[] Message(ChainLink link, string time, string reason, string keyId) =>
        Encoding.UTF8.GetBytes($"{Domain}\n{link.Seq}\n{link.Prev}\n{time}\n{reason}\n{keyId}\n");
}
