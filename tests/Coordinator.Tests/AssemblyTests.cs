using System.Diagnostics;
using System.Text.Json;
using Activations.Contracts;
using Activations.Coordinator.Assembly;
using static TorchSharp.torch;

namespace Activations.Coordinator.Tests;

public sealed class AssemblyTests : IDisposable
{
    readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    static readonly int[] Layers = [6, 12];

    static List<string> Ids(string prefix, int count) => Enumerable.Range(1, count).Select(i => $"{prefix}{i:D3}").ToList();

    /// <summary>Distinct, recognisable values: row r of pair p at layer L holds L*1000 + p*10 + column/8.</summary>
    static PooledVectorTable Table(IEnumerable<string> ids, int width, IEnumerable<int> layers)
    {
        var table = new PooledVectorTable();
        var index = 0;
        foreach (var id in ids)
        {
            index++;
            foreach (var layer in layers)
            {
                table.Add(id, HookPoint.ResidPost(layer), Enumerable.Range(0, width).Select(c => layer * 1000f + index * 10f + c / 8f).ToArray());
            }
        }
        return table;
    }

    static RequestedHook[] Requested(IEnumerable<int> layers, int width) => [.. layers.Select(l => new RequestedHook(HookPoint.ResidPost(l), width))];

    static ActivationAssembler Assembler(ActivationFileWriter? writer = null) =>
        new(writer ?? new ActivationFileWriter(), new ListLogger<ActivationAssembler>());

    string OutDir => Path.Combine(_dir.Path, "out");

    [Theory]
    [InlineData(ActivationDtype.Float32)]
    [InlineData(ActivationDtype.Float16)]
    public async Task Round_trip_through_pybridge_and_torch_load_keeps_rows_values_and_dtype(ActivationDtype dtype)
    {
        var faithful = Ids("f", 12);
        var unfaithful = Ids("u", 10);
        var table = Table(faithful.Concat(unfaithful), 24, Layers);
        var written = await Assembler().AssembleAndWriteAsync(new AssemblyRequest(Requested(Layers, 24), faithful, unfaithful, table, dtype), OutDir);

        Assert.Equal(["layer_6_activations.pt", "layer_12_activations.pt"], written.Select(Path.GetFileName));
        foreach (var layer in Layers)
        {
            var (f, u) = ActivationFileWriter.ReadLayer(Path.Combine(OutDir, ActivationFileWriter.FileNameFor(layer)));
            using (f)
            using (u)
            {
                Assert.Equal(dtype.ToScalarType(), f.dtype);
                Assert.Equal(dtype.ToScalarType(), u.dtype);
                Assert.Equal([12L, 24L], f.shape);
                Assert.Equal([10L, 24L], u.shape);
                using var expectedF = Expected(table, faithful, layer, dtype);
                using var expectedU = Expected(table, unfaithful, layer, dtype);
                Assert.Equal(Values(expectedF), Values(f));
                Assert.Equal(Values(expectedU), Values(u));
                // The real reader: PyTorch's torch.load(weights_only=True).
                var python = PythonReader.Read(Path.Combine(OutDir, ActivationFileWriter.FileNameFor(layer)));
                Assert.Equal(dtype == ActivationDtype.Float16 ? "torch.float16" : "torch.float32", python.Tensors["faithful"].Dtype);
                Assert.Equal([12, 24], python.Tensors["faithful"].Shape);
                Assert.Equal([10, 24], python.Tensors["unfaithful"].Shape);
                Assert.Equal(Values(expectedF), python.Tensors["faithful"].Values);
                Assert.Equal(Values(expectedU), python.Tensors["unfaithful"].Values);
            }
        }
        Assert.DoesNotContain(Directory.GetFiles(OutDir), p => p.EndsWith(".tmp"));
    }

    static float[] Values(Tensor t)
    {
        using var float32 = t.to_type(ScalarType.Float32);
        return float32.data<float>().ToArray();
    }

    static float[] Get(PooledVectorTable table, string id, HookPoint hook)
    {
        Assert.True(table.TryGet(id, hook, out var vector), $"no vector for {id} at {hook}");
        return vector.ToArray();
    }

    static Tensor Expected(PooledVectorTable table, List<string> ids, int layer, ActivationDtype dtype)
    {
        var data = ids.SelectMany(id => Get(table, id, HookPoint.ResidPost(layer))).ToArray();
        using var float32 = tensor(data, [ids.Count, data.Length / ids.Count]);
        return float32.to_type(dtype.ToScalarType());
    }

    [Theory]
    [InlineData(ActivationDtype.Float32, "torch.FloatStorage", 4)]
    [InlineData(ActivationDtype.Float16, "torch.HalfStorage", 2)]
    public async Task Python_stdlib_check_accepts_the_file_as_weights_only(ActivationDtype dtype, string storage, int _)
    {
        var faithful = Ids("f", 11);
        var unfaithful = Ids("u", 10);
        var table = Table(faithful.Concat(unfaithful), 8, Layers);
        await Assembler().AssembleAndWriteAsync(new AssemblyRequest(Requested(Layers, 8), faithful, unfaithful, table, dtype), OutDir);

        var summary = RunCheckPt(Path.Combine(OutDir, "layer_12_activations.pt"));
        var f = summary.GetProperty("faithful");
        Assert.Equal([11, 8], f.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([8, 1], f.GetProperty("stride").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(storage, f.GetProperty("storage").GetString());
        Assert.Equal(88, f.GetProperty("numel").GetInt32());
        Assert.Equal([10, 8], summary.GetProperty("unfaithful").GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void Python_stdlib_check_rejects_a_global_outside_the_allowlist_and_a_short_storage()
    {
        // Protocol 2 pickles: 'os.system' as a GLOBAL; a FloatStorage of 4 elements whose data file has 8 bytes.
        var evil = WriteZip("evil.pt", Latin1("\x80\x02" + "cos\nsystem\nq\x00."), []);
        var (code, stderr) = RunCheckPtRaw(evil);
        Assert.Equal(1, code);
        Assert.Contains("GLOBAL os.system", stderr);

        var pickle = new List<byte> { 0x80, 0x02, (byte)'(' };
        pickle.AddRange(Latin1("X\x07\0\0\0storage"));
        pickle.AddRange(Latin1("ctorch\nFloatStorage\n"));
        pickle.AddRange(Latin1("X\x01\0\0\00X\x03\0\0\0cpuK\x04tQ."));
        var shortStorage = WriteZip("short.pt", pickle.ToArray(), new byte[8]);
        (code, stderr) = RunCheckPtRaw(shortStorage);
        Assert.Equal(1, code);
        Assert.Contains("8 bytes, expected 4 x 4", stderr);
    }

    static byte[] Latin1(string text) => System.Text.Encoding.Latin1.GetBytes(text);

    string WriteZip(string name, byte[] pickle, byte[] storage0)
    {
        var path = Path.Combine(_dir.Path, name);
        using var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create);
        using (var s = zip.CreateEntry("archive/data.pkl").Open()) s.Write(pickle);
        using (var s = zip.CreateEntry("archive/data/0").Open()) s.Write(storage0);
        return path;
    }

    /// <summary>Runs tests/tools/check_pt.py and expects success; returns its JSON summary.</summary>
    static JsonElement RunCheckPt(string ptFile)
    {
        var (code, stderr, stdout) = RunCheckPtProcess(ptFile);
        Assert.True(code == 0, $"check_pt.py failed ({code}): {stderr}");
        return JsonDocument.Parse(stdout).RootElement.Clone();
    }

    static (int Code, string Stderr) RunCheckPtRaw(string ptFile)
    {
        var (code, stderr, _) = RunCheckPtProcess(ptFile);
        return (code, stderr);
    }

    /// <summary>Runs tests/tools/check_pt.py with a timeout; fails (not skips) when python3 is missing.</summary>
    static (int Code, string Stderr, string Stdout) RunCheckPtProcess(string ptFile)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "tools", "check_pt.py");
        Assert.True(File.Exists(script), $"{script} is missing from the test output");
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { script, ptFile, "--keys", "faithful,unfaithful" }) start.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"python3 is needed to check .pt files without PyTorch: {e.Message}");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("check_pt.py did not finish within 60 s");
            }
            return (process.ExitCode, stderr.Result, stdout.Result);
        }
    }

    [Fact]
    public async Task A_violation_in_any_layer_writes_nothing()
    {
        var faithful = Ids("f", 12);
        var unfaithful = Ids("u", 10);
        var layers = new[] { 6, 12, 18 };
        var table = Table(faithful.Concat(unfaithful), 8, [6, 12]);
        // Layer 18's unfaithful rows are one column short: only the last layer is bad.
        foreach (var id in faithful) table.Add(id, HookPoint.ResidPost(18), new float[8]);
        foreach (var id in unfaithful) table.Add(id, HookPoint.ResidPost(18), new float[7]);
        var manifestBuilt = false;

        await Assert.ThrowsAsync<ContractViolationException>(() => Assembler().AssembleAndWriteAsync(
            new AssemblyRequest(Requested(layers, 8), faithful, unfaithful, table, ActivationDtype.Float32), OutDir,
            () => { manifestBuilt = true; throw new InvalidOperationException("not reached"); }));

        Assert.False(manifestBuilt);
        Assert.True(!Directory.Exists(OutDir) || Directory.GetFileSystemEntries(OutDir).Length == 0);
    }

    [Fact]
    public async Task Too_few_rows_writes_nothing()
    {
        var faithful = Ids("f", 12);
        var unfaithful = Ids("u", 9);
        var table = Table(faithful.Concat(unfaithful), 8, Layers);
        Directory.CreateDirectory(OutDir);

        var e = await Assert.ThrowsAsync<ContractViolationException>(() => Assembler().AssembleAndWriteAsync(
            new AssemblyRequest(Requested(Layers, 8), faithful, unfaithful, table, ActivationDtype.Float16), OutDir));

        Assert.Equal(ContractCheck.MinUnfaithfulRows, e.Check);
        Assert.Empty(Directory.GetFileSystemEntries(OutDir));
    }

    [Fact]
    public async Task A_failed_write_leaves_no_file_and_no_temp_file()
    {
        var writer = new ActivationFileWriter((stream, _) =>
        {
            stream.Write(new byte[4096]);
            throw new IOException("disk full");
        });
        var faithful = Ids("f", 10);
        var unfaithful = Ids("u", 10);
        var table = Table(faithful.Concat(unfaithful), 8, Layers);

        var e = await Assert.ThrowsAsync<InvalidInputException>(() => Assembler(writer).AssembleAndWriteAsync(
            new AssemblyRequest(Requested(Layers, 8), faithful, unfaithful, table, ActivationDtype.Float32), OutDir));

        Assert.Contains("layer_6_activations.pt", e.Message);
        Assert.Contains("disk full", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(OutDir));
    }

    [Fact]
    public void A_failed_write_keeps_the_previous_file_intact()
    {
        Directory.CreateDirectory(OutDir);
        var existing = Path.Combine(OutDir, "layer_6_activations.pt");
        File.WriteAllText(existing, "previous run");
        var writer = new ActivationFileWriter((stream, _) => throw new InvalidOperationException("pickler bug"));
        using var f = zeros(10, 4);
        using var u = zeros(10, 4);

        Assert.Throws<InvalidOperationException>(() => writer.WriteLayer(OutDir, 6, f, u));

        Assert.Equal("previous run", File.ReadAllText(existing));
        Assert.Equal(["layer_6_activations.pt"], Directory.GetFileSystemEntries(OutDir).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Values_past_the_fp16_range_are_warned_about()
    {
        var faithful = Ids("f", 10);
        var unfaithful = Ids("u", 10);
        var table = new PooledVectorTable();
        foreach (var id in faithful.Concat(unfaithful)) table.Add(id, HookPoint.ResidPost(6), [1f, id == "f003" ? 70000f : 2f]);
        var logger = new ListLogger<ActivationAssembler>();

        using var built = await new ActivationAssembler(new ActivationFileWriter(), logger)
            .BuildHookAsync(new AssemblyRequest(Requested([6], 2), faithful, unfaithful, table, ActivationDtype.Float16), HookPoint.ResidPost(6));

        var warning = Assert.Single(logger.Messages(Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.Contains("Layer 6: 1 activation values are inf or NaN", warning);
    }

    [Fact]
    public void Bfloat16_runs_are_saved_as_float32()
    {
        Assert.Equal(ActivationDtype.Float32, ActivationDtypes.ForCompute(ComputeDtype.BFloat16));
        Assert.Equal(ActivationDtype.Float16, ActivationDtypes.ForCompute(ComputeDtype.Float16));
        Assert.Equal(ActivationDtype.Float32, ActivationDtypes.ForCompute(ComputeDtype.Float32));
        Assert.Throws<ArgumentException>(() => ActivationDtypes.ForCompute(ComputeDtype.Auto));
    }

    [Fact]
    public void Output_folder_is_created_if_missing()
    {
        var nested = Path.Combine(_dir.Path, "a", "b");
        ActivationFileWriter.CheckWritable(nested);
        Assert.True(Directory.Exists(nested));
        Assert.Empty(Directory.GetFileSystemEntries(nested));
    }

    [Fact]
    public void Output_path_that_is_a_file_is_invalid_input()
    {
        var file = _dir.File("out", "x");
        var e = Assert.Throws<InvalidInputException>(() => ActivationFileWriter.CheckWritable(file));
        Assert.Equal(file, e.File);
        Assert.Contains("is a file", e.Message);
    }

    [Fact]
    public void Output_path_under_a_file_is_invalid_input()
    {
        var file = _dir.File("plain", "x");
        var below = Path.Combine(file, "out");
        var e = Assert.Throws<InvalidInputException>(() => ActivationFileWriter.CheckWritable(below));
        Assert.Equal(below, e.File);
    }

    [Fact]
    public async Task Manifest_is_written_last_in_snake_case()
    {
        var faithful = Ids("f", 10);
        var unfaithful = Ids("u", 10);
        var table = Table(faithful.Concat(unfaithful), 8, Layers);
        var started = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var tokenCounts = faithful.Concat(unfaithful).ToDictionary(id => id, _ => 11);

        var written = await Assembler().AssembleAndWriteAsync(
            new AssemblyRequest(Requested(Layers, 8), faithful, unfaithful, table, ActivationDtype.Float32), OutDir,
            () =>
            {
                // Built after the hook files exist.
                Assert.True(File.Exists(Path.Combine(OutDir, "layer_12_activations.pt")));
                return new Manifest
                {
                    ToolVersion = Manifest.CurrentToolVersion,
                    Model = new ManifestModel("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "main", new string('a', 40), "f00d"),
                    Hooks = [.. Layers.Select(l => new ManifestHook($"blocks.{l}.hook_resid_post", 8, [$"layer_{l}_activations.pt"]))],
                    Layers = Layers,
                    Pooling = "mean",
                    BosPolicy = "no-bos",
                    Dtype = "float32",
                    ComputeDtype = "bfloat16",
                    Device = "cpu",
                    Workers = [new ManifestWorker("local/1", "cpu", "bfloat16", 20)],
                    Variant = "q1",
                    Caps = new ManifestCaps(30, 20),
                    Inputs = new ManifestInputs(new ManifestInput("/s.csv", "ab"), new ManifestInput("/r.jsonl", "cd")),
                    PairIds = new ManifestPairs(faithful, unfaithful),
                    LeftOut = [new ManifestLeftOut("x", "no q1 response")],
                    TokenCounts = tokenCounts,
                    Timings = new ManifestTimings(started, started.AddSeconds(12.5), 12.5),
                    Files = ["layer_6_activations.pt", "layer_12_activations.pt"],
                };
            });

        Assert.Equal("manifest.json", Path.GetFileName(written[^1]));
        using var json = JsonDocument.Parse(File.ReadAllText(written[^1]));
        var root = json.RootElement;
        Assert.Equal("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", root.GetProperty("model").GetProperty("id").GetString());
        Assert.Equal(new string('a', 40), root.GetProperty("model").GetProperty("resolved_commit").GetString());
        Assert.Equal("blocks.12.hook_resid_post", root.GetProperty("hooks")[1].GetProperty("name").GetString());
        Assert.Equal([6, 12], root.GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("bfloat16", root.GetProperty("workers")[0].GetProperty("compute_dtype").GetString());
        Assert.Equal(30, root.GetProperty("caps").GetProperty("max_faithful").GetInt32());
        Assert.Equal("no q1 response", root.GetProperty("left_out")[0].GetProperty("reason").GetString());
        Assert.Equal(faithful, root.GetProperty("pair_ids").GetProperty("faithful").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(11, root.GetProperty("token_counts").GetProperty("f001").GetInt32());
        Assert.Equal(12.5, root.GetProperty("timings").GetProperty("seconds").GetDouble());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("tool_version").GetString()));

        var back = ManifestFile.Read(written[^1]);
        Assert.Equal(faithful, back.PairIds.Faithful);
        Assert.Equal(started, back.Timings.Started);
        Assert.DoesNotContain(Directory.GetFiles(OutDir), p => p.EndsWith(".tmp"));
    }

    [Fact]
    public async Task A_result_holding_a_hook_the_job_did_not_ask_for_is_a_contract_violation_and_writes_nothing()
    {
        var faithful = Ids("f", 10);
        var unfaithful = Ids("u", 10);
        var table = Table(faithful.Concat(unfaithful), 8, Layers);
        var extra = HookPoint.At(HookKind.MlpOut, 6);
        table.Add("u004", extra, new float[8]);

        var e = await Assert.ThrowsAsync<ContractViolationException>(() => Assembler().AssembleAndWriteAsync(
            new AssemblyRequest(Requested(Layers, 8), faithful, unfaithful, table, ActivationDtype.Float32), OutDir));

        Assert.Equal(ContractCheck.RequestedHook, e.Check);
        Assert.Equal(extra, e.Hook);
        Assert.Equal("Phase 3 Contract Violation: hook not requested: blocks.6.hook_mlp_out: the job asked for [blocks.6.hook_resid_post, blocks.12.hook_resid_post]", e.Message);
        Assert.True(!Directory.Exists(OutDir) || Directory.GetFileSystemEntries(OutDir).Length == 0);
    }

    [Fact]
    public async Task A_result_missing_a_requested_hook_or_at_another_width_is_a_contract_violation()
    {
        var faithful = Ids("f", 10);
        var unfaithful = Ids("u", 10);
        var table = Table(faithful.Concat(unfaithful).Where(id => id != "f007"), 8, Layers);
        table.Add("f007", HookPoint.ResidPost(6), new float[8]);
        var missing = await Assert.ThrowsAsync<ContractViolationException>(() => Assembler().AssembleAndWriteAsync(new AssemblyRequest(Requested(Layers, 8), faithful, unfaithful, table, ActivationDtype.Float32), OutDir));
        Assert.Equal(ContractCheck.MissingHook, missing.Check);
        Assert.EndsWith("layer 12: pair 'f007' has no vector for it", missing.Message);

        var wide = Table(faithful.Concat(unfaithful), 8, Layers);
        var e = await Assert.ThrowsAsync<ContractViolationException>(() => Assembler().AssembleAndWriteAsync(new AssemblyRequest(Requested(Layers, 12), faithful, unfaithful, wide, ActivationDtype.Float32), OutDir));
        Assert.Equal(ContractCheck.ExpectedWidth, e.Check);
    }
}

/// <summary>Hook files as a researcher reads them: real torch.load, the safetensors format read three ways.</summary>
public sealed class HookFileTests : IDisposable
{
    readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    static readonly HookPoint[] Hooks = [HookPoint.Embed, HookPoint.At(HookKind.AttnZ, 3), HookPoint.At(HookKind.MlpOut, 3), HookPoint.ResidPost(3)];

    static readonly Dictionary<string, string> Metadata = new() { ["pooling"] = "last", ["bos_policy"] = "bos", ["model"] = "samples/tiny-qwen2" };

    /// <summary>Row r of class c at hook h: recognisable, and exact in fp16 (multiples of 1/8 below 128).</summary>
    static (List<string> Faithful, List<string> Unfaithful, PooledVectorTable Table) Inputs(int width)
    {
        var faithful = Enumerable.Range(1, 11).Select(i => $"f{i:D3}").ToList();
        var unfaithful = Enumerable.Range(1, 10).Select(i => $"u{i:D3}").ToList();
        var table = new PooledVectorTable();
        var index = 0;
        foreach (var id in faithful.Concat(unfaithful))
        {
            index++;
            for (var h = 0; h < Hooks.Length; h++)
            {
                table.Add(id, Hooks[h], [.. Enumerable.Range(0, width).Select(c => h * 16f + index + c / 8f)]);
            }
        }
        return (faithful, unfaithful, table);
    }

    static float[] Expected(PooledVectorTable table, List<string> ids, HookPoint hook) =>
        [.. ids.SelectMany(id => table.TryGet(id, hook, out var v) ? v.ToArray() : throw new KeyNotFoundException(id))];

    [Theory]
    [InlineData(ActivationDtype.Float32, "torch.float32", "F32")]
    [InlineData(ActivationDtype.Float16, "torch.float16", "F16")]
    public async Task Every_hook_is_written_as_pt_and_safetensors_and_reads_back_in_python_and_torchsharp(ActivationDtype dtype, string torchDtype, string safetensorsDtype)
    {
        const int width = 6;
        var (faithful, unfaithful, table) = Inputs(width);
        var output = Path.Combine(_dir.Path, "out");
        var request = new AssemblyRequest([.. Hooks.Select(h => new RequestedHook(h, width))], faithful, unfaithful, table, dtype)
        {
            Formats = OutputFormats.Pt | OutputFormats.Safetensors,
            Metadata = Metadata,
        };
        var written = await new ActivationAssembler(new ActivationFileWriter(), new ListLogger<ActivationAssembler>()).AssembleAndWriteAsync(request, output);

        Assert.Equal(
            ["hook_embed_activations.pt", "hook_embed_activations.safetensors",
             "blocks.3.attn.hook_z_activations.pt", "blocks.3.attn.hook_z_activations.safetensors",
             "blocks.3.hook_mlp_out_activations.pt", "blocks.3.hook_mlp_out_activations.safetensors",
             "layer_3_activations.pt", "layer_3_activations.safetensors"],
            written.Select(Path.GetFileName));
        foreach (var hook in Hooks)
        {
            var expectedF = Expected(table, faithful, hook);
            var expectedU = Expected(table, unfaithful, hook);
            var pt = PythonReader.Read(Path.Combine(output, $"{hook.FileStem}.pt"));
            Assert.StartsWith("torch.load(weights_only=True) 1.13", pt.Reader);
            Assert.Equal(["faithful", "unfaithful"], pt.Tensors.Keys.Order());
            Assert.Equal(new PythonReader.Tensor(torchDtype, [11, width], expectedF), pt.Tensors["faithful"], TensorComparer.Instance);
            Assert.Equal(new PythonReader.Tensor(torchDtype, [10, width], expectedU), pt.Tensors["unfaithful"], TensorComparer.Instance);

            var path = Path.Combine(output, $"{hook.FileStem}.safetensors");
            var withTorch = PythonReader.Read(path);
            Assert.Equal(new PythonReader.Tensor(torchDtype, [11, width], expectedF), withTorch.Tensors["faithful"], TensorComparer.Instance);
            Assert.Equal(new PythonReader.Tensor(torchDtype, [10, width], expectedU), withTorch.Tensors["unfaithful"], TensorComparer.Instance);
            var byHand = PythonReader.Read(path, withTorch: false);
            Assert.Equal(new Dictionary<string, string>(Metadata) { ["hook"] = hook.Name }.OrderBy(p => p.Key), byHand.Metadata!.OrderBy(p => p.Key));
            Assert.Equal(new PythonReader.Tensor(safetensorsDtype, [11, width], expectedF), byHand.Tensors["faithful"], TensorComparer.Instance);
            Assert.Equal(new PythonReader.Tensor(safetensorsDtype, [10, width], expectedU), byHand.Tensors["unfaithful"], TensorComparer.Instance);

            var state = TorchSharp.PyBridge.Safetensors.LoadStateDict(path);
            using var f = state["faithful"];
            using var u = state["unfaithful"];
            Assert.Equal(dtype.ToScalarType(), f.dtype);
            Assert.Equal(expectedF, f.to_type(ScalarType.Float32).data<float>().ToArray());
            Assert.Equal(expectedU, u.to_type(ScalarType.Float32).data<float>().ToArray());
        }
    }

    [Fact]
    public async Task Python_reads_fail_on_a_truncated_safetensors_file()
    {
        // The readers' own power: a file cut short is refused, not read as zeros.
        var (faithful, unfaithful, table) = Inputs(4);
        var output = Path.Combine(_dir.Path, "out");
        await new ActivationAssembler(new ActivationFileWriter(), new ListLogger<ActivationAssembler>()).AssembleAndWriteAsync(
            new AssemblyRequest([.. Hooks.Select(h => new RequestedHook(h, 4))], faithful, unfaithful, table, ActivationDtype.Float32) { Formats = OutputFormats.Safetensors }, output);
        var path = Path.Combine(output, "layer_3_activations.safetensors");
        Assert.False(File.Exists(Path.Combine(output, "layer_3_activations.pt")));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        foreach (var withTorch in new[] { true, false })
        {
            var e = Assert.ThrowsAny<Exception>(() => PythonReader.Read(path, withTorch));
            Assert.Contains("data is", e.Message);
        }
    }

    sealed class TensorComparer : IEqualityComparer<PythonReader.Tensor>
    {
        public static readonly TensorComparer Instance = new();

        public bool Equals(PythonReader.Tensor? x, PythonReader.Tensor? y) =>
            x is not null && y is not null && x.Dtype == y.Dtype && x.Shape.SequenceEqual(y.Shape) && x.Values.SequenceEqual(y.Values);

        public int GetHashCode(PythonReader.Tensor obj) => obj.Dtype.GetHashCode();
    }
}
