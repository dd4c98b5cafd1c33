using System.Text;
using Corral.Interception.Mcp;

namespace Corral.Interception.Tests;

/// <summary>
/// What a client would read as a tools/list answer: every result with a tools array, matched to a request or not, from
/// JSON or an event stream; output whose meaning depends on which duplicate member a reader keeps is unreadable.
/// </summary>
public sealed class ToolListingReaderTests
{
    private const string Answer = """{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"search_docs","description":"d","inputSchema":{"type":"object"}}]}}""";
    private static readonly string[] FirstPageOf3 = ["n:3"];

    private static ListingScan Read(string json, string[]? ids = null) => ToolListingReader.ReadJson(Encoding.UTF8.GetBytes(json), ids ?? FirstPageOf3);

    [Fact]
    public void A_JSON_answer_to_a_first_page_request_is_the_whole_list()
    {
        var listing = Assert.Single(Read(Answer).Listings);
        Assert.Equal("search_docs", Assert.Single(listing.Tools).Name);
        Assert.True(listing.Complete);
    }

    [Fact]
    public void A_listing_under_any_other_id_is_still_read_but_is_not_the_whole_list()
    {
        Assert.False(Assert.Single(Read(Answer.Replace("\"id\":3", "\"id\":\"x\"")).Listings).Complete);
        Assert.False(Assert.Single(Read(Answer, []).Listings).Complete);
        Assert.True(Assert.Single(Read(Answer.Replace("\"id\":3", "\"id\":\"\\u0061\""), ["s:a"]).Listings).Complete); // "\u0061" is "a"
    }

    [Fact]
    public void An_event_stream_is_split_into_events_and_their_data_read()
    {
        var split = Answer.IndexOf("{\"tools\"", StringComparison.Ordinal);
        var stream = "\uFEFFevent: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\r\n\r\n" +
                     "event: message\rdata: " + Answer[..split] + "\rdata:" + Answer[split..] + "\r\r";
        var splitter = new EventStreamSplitter(1 << 20);
        var events = Encoding.UTF8.GetBytes(stream).Select(b => splitter.Feed([b])).SelectMany(e => e).ToList(); // fed a byte at a time
        Assert.Equal(2, events.Count);
        Assert.Null(splitter.Rest());
        Assert.Equal(stream, string.Concat(events.Select(Encoding.UTF8.GetString))); // relayed unchanged
        Assert.Equal("search_docs", Read(EventStreamSplitter.DataOf(events[1])!).Listings[0].Tools[0].Name);
    }

    [Fact]
    public void A_page_is_not_the_whole_list() =>
        Assert.False(Read(Answer.Replace("]}}", "],\"nextCursor\":\"p2\"}}")).Listings[0].Complete);

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"search_docs","description":"a","description":"b"}]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"search_docs","description":"a","Description":"b"}]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"search_docs","Name":"get_issue"}]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[]},"result":{"tools":[{"name":"x"}]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[],"Tools":[{"name":"x"}]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[{"description":"no name"}]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":{"name":"x"}}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{"tools":[]}""")]
    public void Output_whose_listing_depends_on_the_reader_is_unreadable(string json) => Assert.NotNull(Read(json).Problem);

    [Fact]
    public void Member_names_are_read_as_a_client_reads_them_ignoring_case()
    {
        var listing = Read("""{"jsonrpc":"2.0","id":3,"result":{"Tools":[{"NAME":"search_docs","Description":"d","InputSchema":{"type":"object"}}]}}""").Listings[0];
        Assert.Equal("search_docs", listing.Tools[0].Name);
        Assert.Equal(Read(Answer).Listings[0].Tools[0].Hash, listing.Tools[0].Hash);
    }

    [Fact]
    public void A_changed_description_or_schema_changes_the_hash()
    {
        string HashOf(string json) => Read(json).Listings[0].Tools[0].Hash;
        var original = HashOf(Answer);
        Assert.NotEqual(original, HashOf(Answer.Replace("\"d\"", "\"d2\"")));
        Assert.NotEqual(original, HashOf(Answer.Replace("\"object\"", "\"string\"")));
        Assert.Equal(original, HashOf("\uFEFF" + Answer)); // a byte order mark is skipped, as clients skip it
    }
}
