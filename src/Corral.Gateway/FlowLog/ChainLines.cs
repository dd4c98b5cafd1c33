using System.Text.Json;
using Corral.Audit;

namespace Corral.Gateway.FlowLog;

/// <summary>The lines the flow-log writer adds of its own to the chain: signed checkpoints and gap records (docs/flow-log.md).</summary>
internal static class ChainLines
{
    /// <summary><c>{"v":2,"seq","prev","time","event":"checkpoint","reason","key","sig"}</c>.</summary>
    public static void WriteCheckpoint(Utf8JsonWriter w, ChainLink link, DateTimeOffset time, CheckpointReason reason, CheckpointSigner signer)
    {
        var when = time.UtcDateTime.ToString("O");
        var why = Checkpoint.ReasonName(reason);
        var signature = signer.Sign(Checkpoint.Message(link, when, why, signer.KeyId));
        w.WriteStartObject();
        w.WriteNumber("v", FlowRecord.SchemaVersion);
        FlowRecordJson.WriteLink(w, link);
        w.WriteString("time", when);
        w.WriteString("event", "checkpoint");
        w.WriteString("reason", why);
        w.WriteString("key", signer.KeyId);
        w.WriteString("sig", Convert.ToBase64String(signature));
        w.WriteEndObject();
    }

    /// <summary>
    /// <c>{"v":2,"seq","prev","time","event":"gap","reason","dropped"}</c>: records the writer knows it lost here —
    /// <c>queue-full</c> (counted) or <c>torn-write</c> (a write a killed process left cut short; count unknown, null).
    /// </summary>
    public static void WriteGap(Utf8JsonWriter w, ChainLink link, DateTimeOffset time, string reason, long? dropped)
    {
        w.WriteStartObject();
        w.WriteNumber("v", FlowRecord.SchemaVersion);
        FlowRecordJson.WriteLink(w, link);
        w.WriteString("time", time.UtcDateTime.ToString("O"));
        w.WriteString("event", "gap");
        w.WriteString("reason", reason);
        if (dropped is { } n) w.WriteNumber("dropped", n); else w.WriteNull("dropped");
        w.WriteEndObject();
    }
}
