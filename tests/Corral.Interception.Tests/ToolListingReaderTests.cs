using System.Text;
using Corral.Interception.Mcp;

namespace Corral.Interception.Tests;

/// <summary>A tools/list answer is read from a JSON body or an event stream, matched to its request by id.</summary>
public sealed class ToolListingReaderTests
{
    private const string Answer = """{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"search_docs","description":"d","inputSchema":{"type":"object"}}]}}""";

    [Fact]
    public void A_JSON_answer_is_read()
    {
        var listing = ToolListingReader.Read(Encoding.UTF8.GetBytes(Answer), eventStream: false, "3", requestHadCursor: false)!;
        Assert.Equal("search_docs", Assert.Single(listing.Tools).Name);
        Assert.True(listing.Complete);
    }

    private static readonly int Split = Answer.IndexOf("{\"tools\"", StringComparison.Ordinal);

    [Fact]
    public void An_event_stream_answer_is_read_past_other_events_and_split_data_lines()
    {
        var stream = "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\r\n\r\n" +
                     "event: message\ndata: " + Answer[..Split] + "\ndata: " + Answer[Split..] + "\n\n"; // split between JSON tokens
        var listing = ToolListingReader.Read(Encoding.UTF8.GetBytes(stream), eventStream: true, "3", requestHadCursor: false)!;
        Assert.Equal("search_docs", Assert.Single(listing.Tools).Name);
    }

    [Fact]
    public void An_answer_to_another_id_is_not_taken() =>
        Assert.Null(ToolListingReader.Read(Encoding.UTF8.GetBytes(Answer), eventStream: false, "\"3\"", requestHadCursor: false));

    [Fact]
    public void A_page_is_not_the_whole_list()
    {
        var paged = Answer.Replace("]}}", "],\"nextCursor\":\"p2\"}}");
        Assert.False(ToolListingReader.Read(Encoding.UTF8.GetBytes(paged), false, "3", false)!.Complete);
        Assert.False(ToolListingReader.Read(Encoding.UTF8.GetBytes(Answer), false, "3", requestHadCursor: true)!.Complete);
    }

    [Fact]
    public void A_changed_description_or_schema_changes_the_hash()
    {
        string HashOf(string json) => ToolListingReader.Read(Encoding.UTF8.GetBytes(json), false, "3", false)!.Tools[0].Hash;
        var original = HashOf(Answer);
        Assert.NotEqual(original, HashOf(Answer.Replace("\"d\"", "\"d2\"")));
        Assert.NotEqual(original, HashOf(Answer.Replace("\"object\"", "\"string\"")));
        Assert.Equal(original, HashOf(Answer));
    }
}
