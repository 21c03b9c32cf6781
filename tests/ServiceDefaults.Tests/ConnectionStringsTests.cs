using System.Reflection;
using Activations.ServiceDefaults;
using Npgsql;

namespace Activations.ServiceDefaults.Tests;

public class ConnectionStringsTests
{
    const string Secret = "s3cr;et'\"x";

    /// <summary>Every key Npgsql itself reads a password from: the properties named *Password and their synonyms, found by reflection.</summary>
    public static TheoryData<string> NpgsqlPasswordKeys() => new(PasswordKeys().Distinct());

    static List<string> PasswordKeys()
    {
        var keys = new List<string>();
        foreach (var property in typeof(NpgsqlConnectionStringBuilder).GetProperties().Where(p => p.Name.EndsWith("Password", StringComparison.Ordinal)))
        {
            keys.Add(property.GetCustomAttribute<System.ComponentModel.DisplayNameAttribute>()?.DisplayName ?? property.Name);
            keys.Add(property.Name);
            var attribute = property.GetCustomAttributes().FirstOrDefault(a => a.GetType().Name == "NpgsqlConnectionStringPropertyAttribute");
            if (attribute?.GetType().GetProperty("Synonyms")?.GetValue(attribute) is string[] synonyms)
            {
                foreach (var synonym in synonyms)
                {
                    keys.Add(synonym);
                }
            }
        }
        return keys;
    }

    [Fact]
    public void Reflection_finds_the_aliases_npgsql_documents()
    {
        var keys = PasswordKeys().ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.Contains("PSW", keys);
        Assert.Contains("PWD", keys);
        Assert.Contains("SSL Password", keys);
    }

    [Theory]
    [MemberData(nameof(NpgsqlPasswordKeys))]
    public void Every_password_alias_is_masked_plain_or_quoted(string key)
    {
        foreach (var form in new[] { $"{key}=plainSecret1", $"{key} = 'plainSecret1'", $"{key}=\"plainSecret1\"", $"{key.ToLowerInvariant()}=plainSecret1" })
        {
            var text = $"Host=db;Username=app;{form};Database=activations";
            // The key really is one Npgsql reads (so the test would catch a missed alias).
            Assert.NotNull(new NpgsqlConnectionStringBuilder(text)[key]);
            var masked = ConnectionStrings.Mask(text);
            Assert.DoesNotContain("plainSecret1", masked);
            Assert.Contains("***", masked);
            Assert.Contains("db", masked);
        }
    }

    [Fact]
    public void A_quoted_password_holding_separators_is_masked_whole()
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "db", Username = "app", Password = Secret, Database = "activations" };
        Assert.Equal(Secret, new NpgsqlConnectionStringBuilder(builder.ConnectionString).Password);
        var masked = ConnectionStrings.Mask(builder.ConnectionString);
        Assert.DoesNotContain("s3cr", masked);
        Assert.DoesNotContain("et'", masked);
        Assert.Contains("activations", masked);
    }

    [Fact]
    public void An_unparseable_string_loses_everything_after_a_password_key()
    {
        var masked = ConnectionStrings.Mask("Host=db;Password='unbalanced;Database=x");
        Assert.DoesNotContain("unbalanced", masked);
        Assert.StartsWith("Host=db;Password=***", masked);
    }

    [Fact]
    public void A_url_keeps_its_user_and_loses_its_password()
    {
        var masked = ConnectionStrings.Mask("http://keda:p%40ss@rabbitmq.activations.svc:15672/");
        Assert.DoesNotContain("p%40ss", masked);
        Assert.DoesNotContain("p@ss", masked);
        Assert.Contains("keda", masked);
    }

    [Fact]
    public void Without_a_password_nothing_changes_meaning()
    {
        var masked = ConnectionStrings.Mask("Host=db;Username=app;Database=activations");
        var parsed = new NpgsqlConnectionStringBuilder(masked);
        Assert.Equal(("db", "app", "activations"), (parsed.Host, parsed.Username, parsed.Database));
    }
}
