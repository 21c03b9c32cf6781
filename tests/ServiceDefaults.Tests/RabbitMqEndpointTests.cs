using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Activations.Contracts;
using Activations.ServiceDefaults;

namespace Activations.ServiceDefaults.Tests;

public sealed class RabbitMqEndpointTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("activations-tls-").FullName;

    public void Dispose() => Directory.Delete(_folder, true);

    [Fact]
    public void The_password_never_prints()
    {
        var endpoint = RabbitMqEndpoint.Resolve("amqps://worker:pa55word@broker:5671/jobs", null, null)!;
        Assert.DoesNotContain("pa55word", endpoint.ToString());
        Assert.DoesNotContain("pa55word", $"{endpoint}");
        Assert.Equal("amqps://worker:***@broker:5671/jobs", endpoint.ToString());
    }

    [Fact]
    public void Options_win_over_the_environment_and_bad_values_name_their_source()
    {
        Assert.Null(RabbitMqEndpoint.Resolve(null, null, null) is { } e && Environment.GetEnvironmentVariable(RabbitMqEndpoint.EnvironmentVariable) is null ? e : null);
        Assert.Equal(TimeSpan.FromSeconds(2.5), RabbitMqEndpoint.Resolve("amqp://u:p@h/", null, "2.5")!.ConnectTimeout);
        Assert.Equal(RabbitMqEndpoint.DefaultConnectTimeout, RabbitMqEndpoint.Resolve("amqp://u:p@h/", null, null)!.ConnectTimeout);
        var zero = Assert.Throws<InvalidInputException>(() => RabbitMqEndpoint.Resolve("amqp://u:p@h/", null, "0"));
        Assert.Contains("--connect-timeout", zero.Message);
        var ca = WriteCa("ca.pem", MakeCa("Test CA").Certificate);
        var plain = Assert.Throws<InvalidInputException>(() => RabbitMqEndpoint.Resolve("amqp://u:p@h/", ca, null));
        Assert.Contains("amqps://", plain.Message);
        var missing = Assert.Throws<InvalidInputException>(() => RabbitMqEndpoint.Resolve("amqps://u:p@h/", Path.Combine(_folder, "nope.pem"), null));
        Assert.Contains("no such CA file", missing.Message);
        File.WriteAllText(Path.Combine(_folder, "junk.pem"), "not a certificate");
        Assert.Throws<InvalidInputException>(() => RabbitMqEndpoint.Resolve("amqps://u:p@h/", Path.Combine(_folder, "junk.pem"), null));
        var endpoint = RabbitMqEndpoint.Resolve("amqps://u:p@h/", ca, null)!;
        Assert.Equal(5671, endpoint.Port);
        Assert.Equal(Path.GetFullPath(ca), endpoint.Trust.CaFile);
    }

    [Fact]
    public void A_ca_file_trusts_its_own_certificates_and_nothing_else()
    {
        var (ca, caKey) = MakeCa("Activations test CA");
        var (other, otherKey) = MakeCa("Some other CA");
        var trust = TlsTrust.FromCaFile(WriteCa("ca.pem", ca), "--rabbitmq-ca-file");
        using var good = Issue(ca, caKey, "broker");
        using var foreign = Issue(other, otherKey, "broker");

        // SslStream reports a chain error for a private CA; the CA file decides instead.
        Assert.True(trust.Validate(this, good, null, SslPolicyErrors.RemoteCertificateChainErrors), trust.LastFailure);
        Assert.Null(trust.LastFailure);
        Assert.False(trust.Validate(this, foreign, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("does not chain to a CA in", trust.LastFailure);
        // A certificate for another host name is refused even when the chain is good.
        Assert.False(trust.Validate(this, good, null, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Contains("does not name the host", trust.LastFailure);
        Assert.False(trust.Validate(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
        // The system's roots: any policy error is fatal.
        Assert.False(TlsTrust.System.Validate(this, good, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(TlsTrust.System.Validate(this, good, null, SslPolicyErrors.None));
    }

    string WriteCa(string name, X509Certificate2 ca)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, ca.ExportCertificatePem());
        return path;
    }

    internal static (X509Certificate2 Certificate, RSA Key) MakeCa(string name)
    {
        var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return (request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)), key);
    }

    static X509Certificate2 Issue(X509Certificate2 ca, RSA caKey, string host)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(host);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        _ = caKey; // ca carries its key (CreateSelfSigned)
        return request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));
    }
}
