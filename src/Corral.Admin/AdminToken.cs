using System.Security.Cryptography;
using System.Text;

namespace Corral.Admin;

/// <summary>
/// The admin bearer token, kept only as its SHA-256 digest. Presented tokens are hashed and compared in constant time,
/// so neither the comparison's timing nor the token's length tells an attacker anything.
/// </summary>
public sealed class AdminToken
{
    /// <summary>The environment variable read when no token file is given.</summary>
    public const string EnvironmentVariable = "CORRAL_ADMIN_TOKEN";

    private const int MinLength = 16;
    private readonly byte[] _digest;

    private AdminToken(string token) => _digest = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>A token from text; refuses one too short to resist guessing.</summary>
    public static AdminToken FromText(string token)
    {
        token = token.Trim();
        if (token.Length < MinLength) throw new AdminTokenException($"the admin token must be at least {MinLength} characters");
        return new AdminToken(token);
    }

    /// <summary>Reads a token file (first line); refuses one that group or others can read, like the CA key.</summary>
    public static AdminToken FromFile(string path)
    {
        if (!File.Exists(path)) throw new AdminTokenException($"admin token file {path} not found");
        if (!OperatingSystem.IsWindows())
        {
            const UnixFileMode OthersOrGroup = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                               UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            var mode = File.GetUnixFileMode(path);
            if ((mode & OthersOrGroup) != 0)
                throw new AdminTokenException($"admin token file {path} can be read by others (mode {Convert.ToString((int)mode, 8)}); run: chmod 600 {path}");
        }
        if (new FileInfo(path).Length > 4096) throw new AdminTokenException($"admin token file {path} is larger than 4096 bytes");
        var text = File.ReadAllText(path);
        var firstLine = text.Split('\n', 2)[0];
        return FromText(firstLine);
    }

    /// <summary>The token from <c>CORRAL_ADMIN_TOKEN</c>, or null when it is not set.</summary>
    public static AdminToken? FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } value ? FromText(value) : null;

    /// <summary>True when <paramref name="presented"/> is the token.</summary>
    public bool Matches(ReadOnlySpan<char> presented)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        var bytes = Encoding.UTF8.GetBytes(presented.ToArray());
        SHA256.HashData(bytes, digest);
        return CryptographicOperations.FixedTimeEquals(digest, _digest);
    }
}

/// <summary>A token that cannot be used, with the reason.</summary>
public sealed class AdminTokenException(string message) : Exception(message);
