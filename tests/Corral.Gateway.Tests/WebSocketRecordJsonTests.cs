using System.Net;
using System.Text.Json;
using Corral.Gateway.FlowLog;
using Corral.Interception.WebSockets;

namespace Corral.Gateway.Tests;

/// <summary>A WebSocket's closing record carries its summary as docs/flow-log.md names it.</summary>
public sealed class WebSocketRecordJsonTests
{
    [Fact]
    public void The_closing_record_names_messages_bytes_the_close_code_and_who_closed()
    {
        var record = new FlowRecord
        {
            Event = FlowEvent.Request, Time = DateTimeOffset.UnixEpoch, FlowId = "f1", Listener = "explicit", Source = new IPEndPoint(IPAddress.Loopback, 5000),
            Method = "WEBSOCKET", Url = "https://mcp.contoso.com/ws", Status = 101, Refusal = "the request carries aws-access-key", Check = "payload-inspection",
            WebSocket = new WebSocketSummary(3, 4, 120, 340, 1008, "gateway"),
        };
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) FlowRecordJson.Write(w, record);
        var json = JsonDocument.Parse(buffer.WrittenMemory).RootElement;
        var ws = json.GetProperty("websocket");
        Assert.Equal((3, 4, 120, 340, 1008, "gateway"), (ws.GetProperty("messages_up").GetInt32(), ws.GetProperty("messages_down").GetInt32(),
            ws.GetProperty("bytes_up").GetInt32(), ws.GetProperty("bytes_down").GetInt32(), ws.GetProperty("close_code").GetInt32(), ws.GetProperty("closed_by").GetString()));
        Assert.Equal(("WEBSOCKET", "payload-inspection"), (json.GetProperty("method").GetString(), json.GetProperty("check").GetString()));
    }
}
