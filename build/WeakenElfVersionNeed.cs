using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Marks one GNU version need (a Vernaux entry in .gnu.version_r) of an ELF64 little-endian library as weak,
// so that the dynamic loader accepts a libstdc++ without that version. Does nothing when the system
// libstdc++ already provides the version, or when the entry is already weak.
public class WeakenElfVersionNeed : Task
{
    public string LibraryPath { get; set; } = "";
    public string VersionName { get; set; } = "";

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        if (SystemLibstdcxxHas(VersionName))
        {
            Log.LogMessage(MessageImportance.Low, "libstdc++ provides {0}; {1} left as it is.", VersionName, LibraryPath);
            return true;
        }
        // The output copy may be a hard link into the NuGet cache: write a private copy.
        var bytes = File.ReadAllBytes(LibraryPath);
        var result = Weaken(bytes, VersionName);
        if (result == null)
        {
            Log.LogWarning("{0}: no version need {1} found; left as it is.", LibraryPath, VersionName);
            return true;
        }
        if (result == false)
        {
            return true; // already weak
        }
        var temp = LibraryPath + ".weak.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Delete(LibraryPath);
        File.Move(temp, LibraryPath);
        Log.LogMessage(MessageImportance.High, "Marked the {0} need of {1} as weak (this libstdc++ lacks it).", VersionName, Path.GetFileName(LibraryPath));
        return true;
    }

    static bool SystemLibstdcxxHas(string version)
    {
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64" })
        {
            var path = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(path))
            {
                return IndexOf(File.ReadAllBytes(path), needle) >= 0;
            }
        }
        return false;
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    // true: changed, false: already weak, null: not found.
    static bool? Weaken(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("not an ELF64 little-endian file");
        }
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(elf, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);
            long vn = offset;
            for (int n = 0; n < count; n++)
            {
                int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
                long vna = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    long name = strtab + BitConverter.ToUInt32(elf, (int)vna + 8);
                    int end = (int)name;
                    while (elf[end] != 0) end++;
                    if (Encoding.ASCII.GetString(elf, (int)name, end - (int)name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)vna + 4);
                        if ((flags & VerFlgWeak) != 0) return false;
                        flags |= VerFlgWeak;
                        elf[vna + 4] = (byte)(flags & 0xff);
                        elf[vna + 5] = (byte)(flags >> 8);
                        return true;
                    }
                    vna += BitConverter.ToUInt32(elf, (int)vna + 12);
                }
                vn += BitConverter.ToUInt32(elf, (int)vn + 12);
            }
        }
        return null;
    }
}
