#!/usr/bin/env python3
"""Checks a torch.save zip file without PyTorch, using only the standard library.

Proves what torch.load(path, weights_only=True) needs: every pickle opcode and every GLOBAL is one the
weights-only unpickler accepts, each tensor storage file holds exactly numel * element-size bytes, and each
tensor's size/stride/offset fit in its storage. Prints a JSON summary of the tensors on success;
exits 1 with the reasons on failure.

Usage: check_pt.py FILE [--keys faithful,unfaithful]
"""
import json
import pickletools
import sys
import zipfile

# Opcodes torch's weights-only unpickler handles (torch/_weights_only_unpickler.py); a protocol-2 pickle such
# as torch.save writes needs no others. STACK_GLOBAL, FRAME and MEMOIZE (protocol 4) are deliberately absent.
ALLOWED_OPCODES = {
    "PROTO", "STOP", "MARK", "GLOBAL", "REDUCE", "BUILD", "NEWOBJ", "BINPERSID",
    "EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_SET",
    "SETITEM", "SETITEMS", "APPEND", "APPENDS",
    "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "NONE", "NEWTRUE", "NEWFALSE",
    "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT",
    "BINUNICODE", "SHORT_BINSTRING",
    "BINGET", "LONG_BINGET", "BINPUT", "LONG_BINPUT",
}

# Legacy storage classes, as torch.save writes them, with their element sizes in bytes.
STORAGE_ELEMENT_SIZES = {
    "torch.DoubleStorage": 8, "torch.FloatStorage": 4, "torch.HalfStorage": 2, "torch.BFloat16Storage": 2,
    "torch.LongStorage": 8, "torch.IntStorage": 4, "torch.ShortStorage": 2, "torch.CharStorage": 1,
    "torch.ByteStorage": 1, "torch.BoolStorage": 1,
    "torch.ComplexDoubleStorage": 16, "torch.ComplexFloatStorage": 8,
}

# Globals from _get_allowed_globals() that a tensor dict can need (dtypes and quantization schemes omitted).
ALLOWED_GLOBALS = set(STORAGE_ELEMENT_SIZES) | {
    "collections.OrderedDict", "collections.Counter",
    "torch.nn.parameter.Parameter", "torch.serialization._get_layout", "torch.Size", "torch.Tensor",
    "torch.device", "_codecs.encode", "builtins.bytearray", "builtins.set", "builtins.complex",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor", "torch._tensor._rebuild_from_type_v2",
}


class Global:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


class Call:
    """What REDUCE would have built: a call we only record."""
    def __init__(self, func, args):
        self.func, self.args = func, args


class Storage:
    def __init__(self, storage_type, key, location, numel):
        self.storage_type, self.key, self.location, self.numel = storage_type, key, location, numel


MARK = object()


def evaluate(data, errors):
    """Walks the opcodes, checks them, and evaluates the small subset a tensor dict uses."""
    stack, memo, storages = [], {}, []

    def pop_to_mark():
        items = []
        while True:
            item = stack.pop()
            if item is MARK:
                return list(reversed(items))
            items.append(item)

    for op, arg, pos in pickletools.genops(data):
        name = op.name
        if name not in ALLOWED_OPCODES:
            errors.append(f"opcode {name} at byte {pos} is not accepted by the weights-only unpickler")
            if name == "STACK_GLOBAL" and len(stack) >= 2:
                errors.append(f"STACK_GLOBAL names {stack[-2]}.{stack[-1]}")
            return None, storages
        if name == "GLOBAL":
            module, _, attr = arg.partition(" ")
            full = f"{module}.{attr}"
            if full not in ALLOWED_GLOBALS:
                errors.append(f"GLOBAL {full} at byte {pos} is not allowed by the weights-only unpickler")
            stack.append(Global(full))
        elif name in ("PROTO",):
            if arg > 2:
                # torch.save uses protocol 2; the weights-only unpickler has no FRAME support.
                errors.append(f"pickle protocol {arg} (torch.save writes 2)")
        elif name == "STOP":
            return (stack.pop() if stack else None), storages
        elif name == "MARK":
            stack.append(MARK)
        elif name in ("EMPTY_DICT",):
            stack.append({})
        elif name in ("EMPTY_LIST",):
            stack.append([])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name == "EMPTY_SET":
            stack.append(set())
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = pop_to_mark()
            for i in range(0, len(items), 2):
                stack[-1][items[i]] = items[i + 1]
        elif name == "APPEND":
            value = stack.pop()
            stack[-1].append(value)
        elif name == "APPENDS":
            stack[-1].extend(pop_to_mark())
        elif name == "TUPLE":
            stack.append(tuple(pop_to_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif name == "NONE":
            stack.append(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(name == "NEWTRUE")
        elif name in ("BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "BINUNICODE", "SHORT_BINSTRING"):
            stack.append(arg)
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name in ("REDUCE", "NEWOBJ"):
            args = stack.pop()
            func = stack.pop()
            stack.append(Call(func, args))
        elif name == "BUILD":
            stack.pop()  # state; only OrderedDict/Tensor/Parameter accept it in torch
        elif name == "BINPERSID":
            pid = stack.pop()
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                errors.append(f"persistent id at byte {pos} is not ('storage', type, key, location, numel): {pid!r}")
                stack.append(None)
                continue
            storage = Storage(str(pid[1]), pid[2], pid[3], pid[4])
            storages.append(storage)
            stack.append(storage)
    errors.append("pickle has no STOP")
    return None, storages


def check(path, expected_keys):
    errors = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefixes = {n.split("/", 1)[0] for n in names}
        if len(prefixes) != 1 or any("/" not in n for n in names):
            errors.append(f"entries must share one top-level folder, got {sorted(prefixes)}")
            return errors, None
        prefix = prefixes.pop()
        if f"{prefix}/data.pkl" not in names:
            errors.append(f"missing {prefix}/data.pkl")
            return errors, None
        result, storages = evaluate(archive.read(f"{prefix}/data.pkl"), errors)
        for storage in storages:
            entry = f"{prefix}/data/{storage.key}"
            size = STORAGE_ELEMENT_SIZES.get(storage.storage_type)
            if entry not in names:
                errors.append(f"storage {storage.key}: no entry {entry}")
            elif size is None:
                errors.append(f"storage {storage.key}: unknown storage type {storage.storage_type}")
            elif archive.getinfo(entry).file_size != storage.numel * size:
                errors.append(f"storage {storage.key}: {archive.getinfo(entry).file_size} bytes, "
                              f"expected {storage.numel} x {size}")
    if errors:
        return errors, None

    if not isinstance(result, dict):
        return [f"top-level object is {type(result).__name__}, expected a dict"], None
    if expected_keys is not None and sorted(result) != sorted(expected_keys):
        errors.append(f"keys are {sorted(result)}, expected {sorted(expected_keys)}")
    summary = {}
    for key, value in result.items():
        if not (isinstance(value, Call) and str(value.func) == "torch._utils._rebuild_tensor_v2"):
            errors.append(f"'{key}' is not a tensor (_rebuild_tensor_v2 call)")
            continue
        storage, offset, shape, stride = value.args[:4]
        numel = 1
        for dim in shape:
            numel *= dim
        extent = offset + sum((d - 1) * s for d, s in zip(shape, stride)) + 1 if numel else offset
        if extent > storage.numel:
            errors.append(f"'{key}': shape {shape} stride {stride} offset {offset} runs past {storage.numel} elements")
        summary[key] = {"shape": list(shape), "stride": list(stride), "storage": storage.storage_type,
                        "numel": storage.numel, "offset": offset}
    return errors, summary


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    keys = None
    if "--keys" in argv:
        keys = argv[argv.index("--keys") + 1].split(",")
    try:
        errors, summary = check(argv[1], keys)
    except (zipfile.BadZipFile, ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
        # A malformed pickle or zip is a failed check, not a crash of the checker.
        errors, summary = [f"unreadable: {type(e).__name__}: {e}"], None
    if errors:
        for error in errors:
            print(f"{argv[1]}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
