using System.Data.Common;
using System.Text.RegularExpressions;

namespace Activations.ServiceDefaults;

/// <summary>The one place that hides credentials in connection strings and URLs before they reach a log or a message.</summary>
public static partial class ConnectionStrings
{
    public const string PostgresEnvironmentVariable = "ACTIVATIONS_POSTGRES";

    public const string Masked = "***";

    /// <summary>
    /// Every key Npgsql reads a secret from: Password and its aliases PSW and PWD, and the client key's SSL Password.
    /// Keys are compared as Npgsql compares them (case and spaces ignored).
    /// </summary>
    static readonly HashSet<string> SecretKeys = new(StringComparer.OrdinalIgnoreCase) { "password", "psw", "pwd", "sslpassword" };

    static bool IsSecretKey(string key) => SecretKeys.Contains(key.Replace(" ", "", StringComparison.Ordinal));

    /// <summary>
    /// A connection string (Key=Value;…, values possibly quoted) or a URL (scheme://user:password@host/…) with every
    /// secret replaced by <see cref="Masked"/>, for logs. A string that cannot be parsed is masked whole after its first key.
    /// </summary>
    public static string Mask(string connectionString)
    {
        if (Uri.TryCreate(connectionString, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0 && connectionString.Contains("://", StringComparison.Ordinal))
        {
            var user = uri.UserInfo.Split(':', 2)[0];
            return new UriBuilder(uri) { UserName = Uri.UnescapeDataString(user), Password = uri.UserInfo.Contains(':') ? Masked : "" }.Uri.ToString();
        }
        DbConnectionStringBuilder parsed;
        try
        {
            parsed = new DbConnectionStringBuilder { ConnectionString = connectionString };
        }
        catch (ArgumentException)
        {
            // Unparseable (an unbalanced quote, say): keep nothing after a key that may be secret.
            var secret = SecretKeyPattern().Match(connectionString);
            return secret.Success ? connectionString[..(secret.Index + secret.Length)] + Masked : connectionString;
        }
        var masked = new DbConnectionStringBuilder();
        foreach (string key in parsed.Keys)
        {
            masked[key] = IsSecretKey(key) ? Masked : parsed[key];
        }
        return masked.ConnectionString;
    }

    [GeneratedRegex(@"(?:^|;)\s*(?:password|psw|pwd|ssl\s*password)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex SecretKeyPattern();
}
