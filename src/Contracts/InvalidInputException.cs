namespace Activations.Contracts;

/// <summary>
/// Bad input that the user can fix: names the file, and where known the line and the field.
/// Hosts print its message alone (no stack trace) and exit non-zero.
/// </summary>
public class InvalidInputException : Exception
{
    public InvalidInputException(string file, string message, int? line = null, string? field = null, Exception? inner = null)
        : base(Format(file, line, field, message), inner)
    {
        File = file;
        Line = line;
        Field = field;
        Reason = message;
    }

    public string File { get; }
    public int? Line { get; }
    public string? Field { get; }
    public string Reason { get; }

    static string Format(string file, int? line, string? field, string message)
    {
        var where = line is { } l ? $"{file}:{l}" : file;
        return field is null ? $"{where}: {message}" : $"{where}: field '{field}': {message}";
    }
}
