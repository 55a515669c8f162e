#!/usr/bin/env python3
"""Moves dpop.dll's imports from combase.dll to ole32.dll, so that the DLL loads on Windows 7.

    windows/retarget_imports.py DLL

Every `#[implement]` COM object of the `windows` crate answers `IMarshal` with the
free-threaded marshaler, and windows-core imports `CoCreateFreeThreadedMarshaler` for that
from combase.dll, which exists from Windows 8 on; the import is `raw-dylib`, so no import
library or link option can point it elsewhere. ole32.dll exports the same function on every
Windows version (on Windows 8 and later it forwards it to combase). This script rewrites the
import descriptor's DLL name in place, "combase.dll" to "ole32.dll" (a shorter name in the same
bytes), after checking that every function imported from combase is one ole32 exports; it
clears those functions' hints, which index combase's export table. A DLL may list the same DLL
in several descriptors (the linker already does for kernel32), so ole32 may appear twice.

Fails, changing nothing, on a file that is not a PE image or on a combase import not in
OLE32_EXPORTS. Prints what it changed. windows/build.sh then checks the import table.
"""
import struct
import sys

# Functions windows-core or the windows crate may import from combase that ole32.dll exports
# on Windows 7 too (documented in ole32 since Windows 2000).
OLE32_EXPORTS = {"CoCreateFreeThreadedMarshaler"}
FROM = b"combase.dll"
TO = b"ole32.dll"


class PeError(Exception):
    pass


def u16(data, offset):
    return struct.unpack_from("<H", data, offset)[0]


def u32(data, offset):
    return struct.unpack_from("<I", data, offset)[0]


def u64(data, offset):
    return struct.unpack_from("<Q", data, offset)[0]


class Image:
    def __init__(self, data):
        self.data = data
        if data[:2] != b"MZ":
            raise PeError("no MZ header")
        pe = u32(data, 0x3C)
        if data[pe:pe + 4] != b"PE\0\0":
            raise PeError("no PE signature")
        coff = pe + 4
        sections = u16(data, coff + 2)
        optional = coff + 20
        magic = u16(data, optional)
        if magic == 0x10B:
            self.pe32_plus, directories = False, optional + 96
        elif magic == 0x20B:
            self.pe32_plus, directories = True, optional + 112
        else:
            raise PeError(f"unknown optional header magic {magic:#x}")
        self.import_rva = u32(data, directories + 8)  # directory 1: the import table
        table = optional + u16(data, coff + 16)
        self.sections = []
        for i in range(sections):
            s = table + 40 * i
            virtual_size, virtual_address, raw_size, raw_pointer = struct.unpack_from("<IIII", data, s + 8)
            self.sections.append((virtual_address, max(virtual_size, raw_size), raw_pointer, raw_size))

    def offset(self, rva):
        for va, size, raw, raw_size in self.sections:
            if va <= rva < va + size and rva - va < raw_size:
                return raw + rva - va
        raise PeError(f"RVA {rva:#x} is in no section")

    def c_string(self, rva):
        start = self.offset(rva)
        end = self.data.index(b"\0", start)
        return start, bytes(self.data[start:end])

    def descriptors(self):
        """(descriptor offset, name offset, name) of each import descriptor."""
        if self.import_rva == 0:
            raise PeError("no import table")
        at = self.offset(self.import_rva)
        while True:
            original_thunk, _, _, name_rva, first_thunk = struct.unpack_from("<IIIII", self.data, at)
            if (original_thunk, name_rva, first_thunk) == (0, 0, 0):
                return
            name_offset, name = self.c_string(name_rva)
            yield at, name_offset, name
            at += 20

    def functions(self, descriptor):
        """(hint offset, name) of each function a descriptor imports by name; None for an
        import by ordinal."""
        original_thunk, _, _, _, first_thunk = struct.unpack_from("<IIIII", self.data, descriptor)
        at = self.offset(original_thunk or first_thunk)
        size, read, by_ordinal = (8, u64, 1 << 63) if self.pe32_plus else (4, u32, 1 << 31)
        while True:
            entry = read(self.data, at)
            if entry == 0:
                return
            if entry & by_ordinal:
                yield None
            else:
                hint_offset = self.offset(entry & 0x7FFFFFFF)
                end = self.data.index(b"\0", hint_offset + 2)
                yield hint_offset, bytes(self.data[hint_offset + 2:end]).decode("ascii")
            at += size


def retarget(data):
    """Rewrites combase imports in `data` (a bytearray); returns the functions moved."""
    image = Image(data)
    plan = []
    for descriptor, name_offset, name in image.descriptors():
        if name.lower() != FROM:
            continue
        functions = list(image.functions(descriptor))
        if None in functions:
            raise PeError("an import from combase.dll by ordinal")
        unknown = sorted({f for _, f in functions} - OLE32_EXPORTS)
        if unknown:
            raise PeError(f"imports from combase.dll that ole32.dll may not export: {', '.join(unknown)}")
        plan.append((name_offset, len(name), functions))
    moved = []
    for name_offset, length, functions in plan:
        data[name_offset:name_offset + length] = TO + b"\0" * (length - len(TO))
        for hint_offset, function in functions:
            data[hint_offset:hint_offset + 2] = b"\0\0"
            moved.append(function)
    return moved


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path = sys.argv[1]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    try:
        moved = retarget(data)
    except (PeError, struct.error, ValueError) as e:
        print(f"retarget_imports: {path}: {e}", file=sys.stderr)
        return 1
    if moved:
        with open(path, "wb") as f:
            f.write(data)
        print(f"{path}: {', '.join(moved)} now imported from ole32.dll instead of combase.dll")
    else:
        print(f"{path}: no import from combase.dll")
    return 0


if __name__ == "__main__":
    sys.exit(main())
