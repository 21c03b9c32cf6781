using System.Text.RegularExpressions;

namespace Activations.ServiceDefaults;

public static partial class ConnectionStrings
{
    public const string PostgresEnvironmentVariable = "ACTIVATIONS_POSTGRES";

    /// <summary>A connection string with any password masked, for logs.</summary>
    public static string Mask(string connectionString) => PasswordPattern().Replace(connectionString, "$1***");

    [GeneratedRegex(@"((?:^|;)\s*(?:Password|Pwd)\s*=\s*)[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordPattern();
}
