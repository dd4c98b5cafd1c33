using System.Text;
using CsCheck;
using Corral.Policy.Inspection;
using Corral.Policy.Model;

namespace Corral.Policy.Tests;

/// <summary>
/// Inspection of what the receiving side reads: the built-in pattern set (a true case and a near miss each), the
/// decoders, charsets, secrets hidden in every supported encoding, and the per-rule body bound.
/// </summary>
public sealed class DecodedInspectionTests
{
    private static readonly PayloadInspector Default = new(InspectionSettings.Default);

    // Test-only values shaped like real secrets, assembled here so no file holds one whole; none is a live credential.
    private static string Repeat(string unit, int length) => string.Concat(Enumerable.Repeat(unit, length / unit.Length + 1))[..length];
    private static readonly string Base62 = Repeat("aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vWxYz", 200);

    public static TheoryData<string, string, string> PatternCases => new()
    {
        // pattern, a true case, a near miss that must pass
        { "private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE", "-----BEGIN PUBLIC KEY-----\nMIIB" },
        { "azure-storage-key", "AccountName=x;AccountKey=" + Base62[..86] + "==;", "AccountKey=" + Base62[..40] + "==" },
        { "azure-sas-token", "?sv=2022-11-02&ss=b&sp=r&se=2026-12-01&sig=" + Base62[..40] + "%3D", "?sv=2022-11-02&ss=b&sp=r" },
        { "azure-shared-access-key", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=" + Base62[..43] + "=", "SharedAccessKeyName=send;SharedAccessKey=short=" },
        { "azure-ad-client-secret", "\"secret\": \"" + "abc" + "8Q~" + Base62[..34] + "\"", "\"id\": \"abc8Q-" + Base62[..34] + "\"" },
        { "aws-access-key", "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE", "AKIA" + "1234567890123456" },
        { "aws-secret-key", "aws_secret_access_key = " + Base62[..40] + "\n", "aws_region = " + Base62[..40] },
        { "github-token", "token ghp" + "_" + Base62[..36], "ghp" + "_" + Base62[..20] },
        { "github-fine-grained-token", "github" + "_pat_" + Base62[..22] + "_" + Base62[..59], "github" + "_pat_example" },
        { "gitlab-token", "PRIVATE-TOKEN: glpat" + "-" + Base62[..20], "glpat" + "-short" },
        { "slack-token", "xoxb" + "-1234567890-1234567890-" + Base62[..24], "xoxb" + "-your-token-here" },
        { "slack-webhook", "https://hooks.slack.com/services/T0000000/B0000000/" + Base62[..24] + "/" + Base62[..18], "https://hooks.slack.com/services/T0000000" },
        { "openai-api-key", "sk" + "-proj-" + Base62[..74] + "T3Blbk" + "FJ" + Base62[..74], "sk" + "-proj-" + Base62[..60] },
        { "anthropic-api-key", "sk" + "-ant-api03-" + Base62[..93] + "AA", "sk" + "-ant-api03-short" },
        { "google-api-key", "key=AIza" + Base62[..35], "AIza" + Base62[..20] },
        { "stripe-key", "sk" + "_live_" + Base62[..24], "pk" + "_live_" + Base62[..24] },
        { "jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlX2hlcmU", "eyJhbGciOiJIUzI1NiJ9" },
        { "generic-secret", "client_secret=\"Zq8xV2mK9pL4rT7wB1nC5hJ3\"", "password=\"aaaaaaaaaaaaaaaaaaaaaaaa1\"" },
    };

    [Theory]
    [MemberData(nameof(PatternCases))]
    public void Each_built_in_pattern_finds_its_secret_and_passes_its_near_miss(string pattern, string secret, string nearMiss)
    {
        Assert.Equal(pattern, Default.Scan(Encoding.ASCII.GetBytes("{\"x\": 1}\n" + secret + "\n")));
        Assert.Null(Default.Scan(Encoding.ASCII.GetBytes("{\"x\": 1}\n" + nearMiss + "\n")));
    }

    [Fact]
    public void Every_built_in_pattern_has_a_true_and_a_near_miss_case() =>
        Assert.Equal(BuiltInPatterns.Names.Order(), PatternCases.Select(c => c.Data.Item1).Order());

    [Theory]
    [InlineData("token=${GITHUB_TOKEN_FOR_THE_DEPLOYMENT}")] // no digit: a placeholder
    [InlineData("\"password\": \"correct-horse-battery\"")] // a phrase, under 20 characters of value
    [InlineData("max_tokens=4096&temperature=0.2")]
    [InlineData("{\"progressToken\": \"f3a1c9e2-5b7d-4e8a-9c1f-2d3b4a5e6f70\"}")] // not a credential name
    public void The_generic_pattern_passes_placeholders_and_ordinary_fields(string text) => Assert.Null(Default.Scan(Encoding.ASCII.GetBytes(text)));

    private const string Key = "AKIAIOSFODNN7EXAMPLE";

    public static TheoryData<string, string> Spellings => new()
    {
        { "json \\u escape", "{\"k\": \"AKIA\\u0049OSFODNN7EXAMPLE\"}" },
        { "json every char escaped", "{\"k\": \"" + string.Concat(Key.Select(c => $"\\u{(int)c:x4}")) + "\"}" },
        { "json escaped key name", "{\"AKIA\\u0049OSFODNN7EXAMPLE\": 1}" },
        { "json in a json string", "{\"arguments\": \"{\\\"k\\\": \\\"AKIA\\\\u0049OSFODNN7EXAMPLE\\\"}\"}" },
        { "percent-encoded query", "GET /search?k=AKIA%49OSFODNN7EXAMPLE HTTP/1.1" },
        { "double percent-encoding", "k=AKIA%2549OSFODNN7EXAMPLE" },
        { "json inside a form value", "data=%7B%22k%22%3A%22AKIA%5Cu0049OSFODNN7EXAMPLE%22%7D" },
        { "xml character references", "<k>AKIA&#73;OSF&#x4f;DNN7EXAMPLE</k>" },
        { "base64", "{\"blob\": \"" + Convert.ToBase64String(Encoding.ASCII.GetBytes("id " + Key + " end")) + "\"}" },
        { "base64url without padding", "x=" + Convert.ToBase64String(Encoding.ASCII.GetBytes("?" + Key + ">>")).TrimEnd('=').Replace('+', '-').Replace('/', '_') },
        { "hex", "payload=" + Convert.ToHexString(Encoding.ASCII.GetBytes(Key)) },
        { "base64 of utf-16le", "cmd=" + Convert.ToBase64String(Encoding.Unicode.GetBytes("echo " + Key)) },
        { "MIME base64 with line breaks", "--b\r\nContent-Transfer-Encoding: base64\r\n\r\n" + Convert.ToBase64String(Encoding.ASCII.GetBytes(new string('.', 50) + Key), Base64FormattingOptions.InsertLineBreaks) + "\r\n--b--" },
        { "base64 of percent-encoding", "b=" + Convert.ToBase64String(Encoding.ASCII.GetBytes("k=AKIA%49OSFODNN7EXAMPLE&x=1")) },
    };

    [Fact]
    public void A_form_value_reads_plus_as_space() =>
        Assert.Equal("private-key", Default.Scan(Encoding.ASCII.GetBytes("note=-----BEGIN+RSA+PRIVATE+KEY-----%0AMIIE")));

    [Theory]
    [MemberData(nameof(Spellings))]
    public void A_secret_is_found_however_a_reader_would_decode_it(string spelling, string text)
    {
        Assert.DoesNotContain(Key, text); // the spelling really hides it from a byte match
        Assert.True(Default.Scan(Encoding.Latin1.GetBytes(text)) == "aws-access-key", spelling);
    }

    [Theory]
    [InlineData("application/json; charset=utf-16", "utf-16")]
    [InlineData("application/json; charset=UTF-16BE", "utf-16BE")]
    [InlineData("text/plain; charset=\"utf-32\"", "utf-32")]
    [InlineData("text/plain; charset=ibm037", "ibm037")] // EBCDIC
    public void A_body_in_its_declared_charset_is_read_as_text(string contentType, string charset)
    {
        var encoding = System.Text.CodePagesEncodingProvider.Instance.GetEncoding(charset) ?? Encoding.GetEncoding(charset);
        var body = encoding.GetBytes("{\"k\": \"" + Key + "\"}");
        if (charset == "ibm037") Assert.Null(Default.Scan(body)); // undeclared, EBCDIC bytes do not show it (UTF-16 and UTF-32 show by their zero bytes)
        Assert.Equal("aws-access-key", Default.Scan(body, contentType));
    }

    [Theory]
    [InlineData("utf-16")]
    [InlineData("utf-16BE")]
    [InlineData("utf-32")]
    public void A_body_with_a_byte_order_mark_or_the_zero_byte_shape_is_read_in_its_charset_undeclared(string charset)
    {
        var encoding = Encoding.GetEncoding(charset);
        var text = "{\"k\": \"" + Key + "\"}";
        Assert.Equal("aws-access-key", Default.Scan([.. encoding.GetPreamble(), .. encoding.GetBytes(text)], "application/json"));
        Assert.Equal("aws-access-key", Default.Scan(encoding.GetBytes(text), "application/octet-stream"));
    }

    [Fact]
    public void An_unknown_charset_leaves_the_body_opaque_bytes_still_scanned() =>
        Assert.Equal("aws-access-key", Default.Scan(Encoding.ASCII.GetBytes(Key), "application/json; charset=x-no-such-charset"));

    [Fact]
    public void A_utf16_body_fed_one_byte_at_a_time_is_still_read_in_its_charset()
    {
        var body = Encoding.Unicode.GetBytes(new string(' ', 9000) + "{\"k\": \"" + Key + "\"}");
        var scan = Default.StartStream("application/json; charset=utf-16le");
        string? found = null;
        for (var i = 0; i < body.Length && found is null; i++) found = scan.Feed(body.AsSpan(i, 1));
        Assert.Equal("aws-access-key", found);
    }

    [Fact]
    public void An_escape_cut_by_a_chunk_boundary_is_found_in_the_next_window()
    {
        var body = Encoding.ASCII.GetBytes(new string('x', 10_000) + "{\"k\": \"AKIA\\u0049OSFODNN7EXAMPLE\"}");
        var cut = Array.IndexOf(body, (byte)'\\') + 3; // inside \u0049
        var scan = Default.StartStream("application/json");
        Assert.Null(scan.Feed(body.AsSpan(0, cut)));
        Assert.Equal("aws-access-key", scan.Feed(body.AsSpan(cut)));
    }

    [Theory]
    [InlineData("{\"query\": \"weather in Oslo\\nand Bergen\", \"units\": \"m\\u00e9tric\"}")]
    [InlineData("q=caf%C3%A9+au+lait&page=2")]
    [InlineData("{\"id\": \"3f2a1b4c-9d8e-4f7a-b6c5-d4e3f2a1b0c9\", \"sha\": \"4b825dc642cb6eb9a060e54bf8d69288fbee4904\"}")]
    [InlineData("{\"image\": \"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\"}")]
    public void Ordinary_encoded_requests_pass(string text) => Assert.Null(Default.Scan(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Decoders_undo_each_encoding_and_change_nothing_without_one()
    {
        Assert.Equal("A\"\n\u00e9\U0001F600/x", DecodedViews.Unescape("\\u0041\\\"\\n\\u00e9\\u{1F600}\\/\\x78"));
        Assert.Null(DecodedViews.Unescape("no escapes"));
        Assert.Equal("a b&c=%", DecodedViews.PercentDecode("a+b%26c%3D%"));
        Assert.Null(DecodedViews.PercentDecode("plain"));
        Assert.Equal("A<&O", DecodedViews.UnescapeCharacterReferences("&#65;&lt;&amp;&#x4F;"));
        Assert.Null(DecodedViews.UnescapeCharacterReferences("a & b"));
        var runs = DecodedViews.DecodeRuns("x " + Convert.ToBase64String(Encoding.ASCII.GetBytes("hello, decoded world")) + " y").ToList();
        Assert.Contains(runs, r => Encoding.ASCII.GetString(r) == "hello, decoded world");
        Assert.Empty(DecodedViews.DecodeRuns("short words only, nothing long enough to decode"));
        Assert.False(DecodedViews.HasLongRun("short words only"));
    }

    // Every supported encoding, as a function from text to what is sent.
    private static readonly (string Name, Func<string, string> Encode)[] Encodings =
    [
        ("json-unicode-escape", s => string.Concat(s.Select(c => $"\\u{(int)c:x4}"))),
        ("json-string", s => System.Text.Json.JsonSerializer.Serialize(s)),
        ("percent", s => string.Concat(Encoding.UTF8.GetBytes(s).Select(b => $"%{b:X2}"))),
        ("form", s => Uri.EscapeDataString(s).Replace("%20", "+")),
        ("char-refs", s => string.Concat(s.Select(c => $"&#{(int)c};"))),
        ("base64", s => Convert.ToBase64String(Encoding.UTF8.GetBytes(s))),
        ("base64url", s => Convert.ToBase64String(Encoding.UTF8.GetBytes(s)).TrimEnd('=').Replace('+', '-').Replace('/', '_')),
        ("hex", s => Convert.ToHexString(Encoding.UTF8.GetBytes(s))),
    ];

    [Fact]
    public void Any_secret_under_any_one_or_two_supported_encodings_is_found()
    {
        var secrets = PatternCases.Select(c => (Pattern: c.Data.Item1, Secret: c.Data.Item2)).ToArray();
        Gen.Select(Gen.Int[0, secrets.Length - 1], Gen.Int[0, Encodings.Length - 1], Gen.Int[-1, Encodings.Length - 1], Gen.String[Gen.Char.AlphaNumeric, 0, 200],
                Gen.Int[1, 5000])
            .Sample((s, first, second, padding, chunk) =>
            {
                var (pattern, secret) = secrets[s];
                var encoded = Encodings[first].Encode(secret);
                if (second >= 0) encoded = Encodings[second].Encode(encoded);
                var body = Encoding.ASCII.GetBytes(padding + " " + encoded + " " + padding);
                var scan = Default.StartStream();
                string? found = null;
                for (var at = 0; at < body.Length && found is null; at += chunk) found = scan.Feed(body.AsSpan(at, Math.Min(chunk, body.Length - at)));
                return found is not null;
            }, iter: 400);
    }

    [Theory]
    [InlineData("maxBufferedBody: 16MiB", 16 << 20)]
    [InlineData("maxBufferedBody: 65536", 65536)]
    [InlineData("maxBufferedBody: 512 KiB", 512 << 10)]
    public void A_rule_sets_its_own_body_bound(string field, int bytes)
    {
        using var temp = new TempPolicy();
        var compiled = temp.Compile($"version: 1\nrules:\n  - {{ name: r, priority: 1, action: permit, ports: [443], {field} }}\n");
        Assert.Equal(bytes, compiled.Document.Rules.Single().MaxBufferedBody);
    }

    [Theory]
    [InlineData("action: permit, maxBufferedBody: 1GiB", "1GiB", "bad-body-bound")]
    [InlineData("action: permit, maxBufferedBody: 1k", "1k", "bad-body-bound")]
    [InlineData("action: permit, maxBufferedBody: 100", "100", "bad-body-bound")]
    [InlineData("action: deny, maxBufferedBody: 1MiB", "1MiB", "buffer-on-deny")]
    public void A_bad_body_bound_is_a_located_error(string fields, string value, string code)
    {
        using var temp = new TempPolicy();
        var line = $"  - {{ name: r, priority: 1, {fields} }}";
        var result = temp.Check($"version: 1\nrules:\n{line}\n");
        Assert.False(result.Succeeded);
        var d = Assert.Single(result.Diagnostics, d => d.Code == code);
        Assert.Equal((3, line.IndexOf(": " + value, StringComparison.Ordinal) + 3), (d.Location.Line, d.Location.Column));
        Assert.EndsWith("corral.yaml", d.Location.File);
    }
}
