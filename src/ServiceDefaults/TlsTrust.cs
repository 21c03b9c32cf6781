using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Activations.Contracts;

namespace Activations.ServiceDefaults;

/// <summary>
/// How a TLS client decides to trust a server: the system's roots, or only the CA certificates of one PEM file. Either
/// way the chain must build to a trusted root and the certificate must name the host we dialled; nothing is ever
/// accepted on a policy error. <see cref="LastFailure"/> says why the last certificate was refused, for the error line.
/// </summary>
public sealed class TlsTrust
{
    readonly X509Certificate2Collection? _roots;

    TlsTrust(string? caFile, X509Certificate2Collection? roots)
    {
        CaFile = caFile;
        _roots = roots;
    }

    /// <summary>The system's trusted roots.</summary>
    public static TlsTrust System { get; } = new(null, null);

    /// <summary>The PEM file the roots come from; null for the system's.</summary>
    public string? CaFile { get; }

    /// <summary>Why the last certificate was refused; null when none was.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>Trust only the CA certificates in <paramref name="path"/> (PEM); <paramref name="source"/> names the option in errors.</summary>
    public static TlsTrust FromCaFile(string path, string source)
    {
        if (!File.Exists(path))
        {
            throw new InvalidInputException(path, $"no such CA file ({source})");
        }
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (CryptographicException e)
        {
            throw new InvalidInputException(path, $"not a PEM certificate file ({source}): {e.Message}");
        }
        if (roots.Count == 0)
        {
            throw new InvalidInputException(path, $"holds no certificate ({source}): expected PEM '-----BEGIN CERTIFICATE-----' blocks");
        }
        return new TlsTrust(Path.GetFullPath(path), roots);
    }

    /// <summary>A <see cref="RemoteCertificateValidationCallback"/>: true only for a chain to a trusted root that names the host.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        LastFailure = Check(certificate, chain, errors);
        return LastFailure is null;
    }

    string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the server sent no certificate";
        }
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return $"the server's certificate ({certificate.Subject}) does not name the host that was dialled";
        }
        if (_roots is null)
        {
            return errors == SslPolicyErrors.None ? null : $"the server's certificate ({certificate.Subject}) is not trusted by this system: {Describe(chain)}";
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements.Skip(1))
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        using var leaf = new X509Certificate2(certificate);
        return custom.Build(leaf) ? null : $"the server's certificate ({certificate.Subject}, issued by {certificate.Issuer}) does not chain to a CA in {CaFile}: {Describe(custom)}";
    }

    static string Describe(X509Chain? chain)
    {
        var statuses = chain?.ChainStatus.Select(s => s.Status.ToString()).Distinct().ToList() ?? [];
        return statuses.Count == 0 ? "untrusted" : string.Join(", ", statuses);
    }
}
