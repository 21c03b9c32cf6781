using System.Security.Cryptography;

namespace Activations.Worker.Loading;

/// <summary>
/// A short content fingerprint of a model folder, the same wherever the folder lives (a Hub snapshot, a copy):
/// config.json, every weights file's header, its size, and 16 samples of 64 KiB spread over its data. Two
/// fine-tunes of one architecture share headers but not weights, so the samples tell them apart without
/// hashing gigabytes.
/// </summary>
public static class ModelFingerprint
{
    const int Samples = 16;
    const int SampleBytes = 64 * 1024;

    public static string Compute(ModelFolder folder)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(File.ReadAllBytes(Path.Combine(folder.Path, ModelFolderLayout.ConfigFile)));
        var buffer = new byte[SampleBytes];
        foreach (var path in folder.TensorFiles.Values.Select(f => f.Path).Distinct().Order(StringComparer.Ordinal))
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            hash.AppendData(BitConverter.GetBytes(stream.Length));
            for (var i = 0; i < Samples; i++)
            {
                stream.Position = Math.Max(0, stream.Length - SampleBytes) * i / (Samples - 1);
                var read = stream.ReadAtLeast(buffer, Math.Min(SampleBytes, (int)Math.Min(int.MaxValue, stream.Length - stream.Position)), throwOnEndOfStream: false);
                hash.AppendData(buffer, 0, read);
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }
}
