using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Corral.Testing;

/// <summary>
/// Keeps every operational log line so tests can check that a refusal was logged; a line's exception, as a console
/// logger would print it, is part of its message.
/// </summary>
public sealed class CollectingLoggerProvider : ILoggerProvider, ILoggerFactory
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }

    public bool Contains(string text, LogLevel atLeast = LogLevel.Information) =>
        Lines.Any(l => l.Level >= atLeast && l.Message.Contains(text, StringComparison.OrdinalIgnoreCase));

    private sealed class Logger(CollectingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((logLevel, exception is null ? formatter(state, exception) : $"{formatter(state, exception)}\n{exception}"));
    }
}
