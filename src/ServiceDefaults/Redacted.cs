using System.Reflection;
using System.Text;

namespace Activations.ServiceDefaults;

/// <summary>
/// ToString for records that hold a credential: the record's members as the compiler would print them, with tokens and
/// passwords replaced by *** and connection strings and broker addresses masked (<see cref="ConnectionStrings.Mask"/>).
/// A record with such a member overrides ToString with <see cref="Describe"/> (a test checks that every one does).
/// </summary>
public static class Redacted
{
    /// <summary>Members whose whole value is a secret.</summary>
    public static bool IsSecret(string member) => member.EndsWith("Password", StringComparison.Ordinal) || member.EndsWith("Token", StringComparison.Ordinal) || member.EndsWith("Secret", StringComparison.Ordinal);

    /// <summary>Members that hold a connection string or a URL with credentials in it.</summary>
    public static bool IsConnectionString(string member) => member is "Postgres" or "RabbitMq" or "ConnectionString" || member.EndsWith("ConnectionString", StringComparison.Ordinal);

    public static string Describe(object record)
    {
        var type = record.GetType();
        var text = new StringBuilder(type.Name).Append(" { ");
        var first = true;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.Name == "EqualityContract")
            {
                continue;
            }
            var value = property.GetValue(record);
            text.Append(first ? "" : ", ").Append(property.Name).Append(" = ").Append(Format(property.Name, value));
            first = false;
        }
        return text.Append(first ? "}" : " }").ToString();
    }

    static string Format(string member, object? value) => value switch
    {
        null => "",
        _ when IsSecret(member) => ConnectionStrings.Masked,
        string s when IsConnectionString(member) => ConnectionStrings.Mask(s),
        System.Collections.IEnumerable items and not string => "[" + string.Join(", ", items.Cast<object?>()) + "]",
        _ => value.ToString() ?? "",
    };
}
