using System.IO.Hashing;
using Org.BouncyCastle.Crypto.Digests;

namespace Sidecar.StaticFiles;

/// <summary>
/// The digests a catalog takes of file contents, none of them through OpenSSL: .NET's SHA-256 and MD5 on Linux
/// load it, 3.7 MB resident in every sidecar. Contents are named by XxHash128 (ETags, sibling checks, fill-in
/// cache names), since nothing here needs a cryptographic hash; MD5 only where Django's hashed names are checked,
/// because Django names files by it, computed by BouncyCastle's managed implementation.
/// </summary>
public sealed class ContentDigest(bool withMd5)
{
    private readonly XxHash128 _hash = new();
    private readonly MD5Digest? _md5 = withMd5 ? new MD5Digest() : null;

    public static byte[] Of(ReadOnlySpan<byte> data) => XxHash128.Hash(data);

    public static byte[] Of(Stream stream)
    {
        var digest = new XxHash128();
        digest.Append(stream);
        return digest.GetCurrentHash();
    }

    public static string Hex(byte[] hash) => Convert.ToHexStringLower(hash);

    public void Append(ReadOnlySpan<byte> data)
    {
        _hash.Append(data);
        _md5?.BlockUpdate(data);
    }

    public byte[] Hash => _hash.GetCurrentHash();

    /// <summary>Lower-case hex MD5, as Django writes (the first 12 digits of) it into hashed names; null unless asked for.</summary>
    public string? Md5Hex
    {
        get
        {
            if (_md5 is null)
            {
                return null;
            }

            var md5 = new byte[_md5.GetDigestSize()];
            _md5.DoFinal(md5);
            return Convert.ToHexStringLower(md5);
        }
    }
}
