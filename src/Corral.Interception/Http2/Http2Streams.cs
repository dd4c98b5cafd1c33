using System.IO.Pipelines;
using Corral.Interception.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Corral.Interception.Http2;

/// <summary>
/// Kestrel's application for decrypted h2 connections: each stream is one request through the one set of
/// <see cref="RequestStages"/>, with its own stages, pipes and upstream, so a refusal is that stream's own response
/// and the other streams of the connection go on. The stages read the request from a pipe this fills from the stream
/// and answer into a pipe that becomes the stream's response.
/// </summary>
internal sealed class Http2Streams(InterceptionOptions options, Func<string, Http2Flow?> flowOf) : IHttpApplication<HttpContext>
{
    public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

    public void DisposeContext(HttpContext context, Exception? exception) { }

    public async Task ProcessRequestAsync(HttpContext context)
    {
        if (flowOf(context.Connection.Id) is not { } flow)
        {
            context.Abort(); // not a connection the interceptor handed in
            return;
        }
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(flow.Stopping, context.RequestAborted);
        var ct = stream.Token;
        var request = new Pipe();
        var answer = new Pipe();
        var upstreams = flow.NewUpstreams();
        var stages = new RequestStages(options, answer.Writer.AsStream(), request.Reader, flow.Target, upstreams, flow.Gate, flow.Inspector);
        var responding = Http2Response.RelayAsync(answer.Reader, context, options.Limits, ct);
        var feeding = Task.CompletedTask;
        Exception? cut = null;
        try
        {
            var mapped = await Http2Request.MapAsync(context, flow.Target, ct);
            if (mapped.Refusal is { } refusal) await stages.RefuseUnframedAsync(context.Request.Method, refusal, ct);
            else
            {
                feeding = Http2Request.FeedAsync(context, mapped.Request!.Head.Framing, request.Writer, ct);
                await stages.RelayOneAsync(mapped.Request, ct);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or HttpMessageRefusedException or InvalidOperationException)
        {
            cut = e; // the answer so far is reset, never ended as if whole
        }
        finally
        {
            // A connection left clean goes back to the pool; anything else (cut short, refused mid-way) is closed.
            upstreams.Release();
            await request.Reader.CompleteAsync();
            await answer.Writer.CompleteAsync(cut);
        }
        await responding;
        await feeding;
    }
}
