--[[
vidaction.lua: LuaJIT FFI bindings of libvidaction.

    local vida = require("vidaction")
    local m = vida.Model.load("r2plus1d_18.safetensors")
    for _, r in ipairs(m:classify("video.mp4", 10, 5)) do print(r.label, r.score) end

The declarations come from vidaction_cdef.lua, which bindings/lua/gen-cdef.sh
generates from include/vidaction.h. The library is found through the
environment variable VIDACTION_LIBRARY (a path), then the source tree's
lib/libvidaction.so.0 (relative to this file), then the system
(libvidaction.so.0, libvidaction.so).

Every handle (context, model, optimizer, video, sampler, tensor file,
dataset, loader) is freed by the garbage collector through ffi.gc, in any
order; obj:free() frees it now (and again is a no-op). A failing call raises a
vida.Error: a table with code (VIDA_E*, negative), name ("EIO"), message
(vida_last_error(), the library's text naming the file or tensor), op (the
call); tostring() gives "vidaction: MESSAGE (name, code)".

Arrays: a vida.Tensor is {data = FFI array, shape = {...}, dtype = "f32"}, row
major, data indexed from 0; t:totable() gives nested Lua tables. See
docs/lua.md for the whole interface.
]]

local ffi = require("ffi")
local bit = require("bit")

local vida = {}

ffi.cdef(require("vidaction_cdef"))

-- ---- the library ---------------------------------------------------------------

local function module_dir()
    local src = debug.getinfo(1, "S").source
    if src:sub(1, 1) ~= "@" then
        return nil
    end
    return src:sub(2):match("^(.*)/[^/]*$") or "."
end

local function load_library()
    local env = os.getenv("VIDACTION_LIBRARY")
    if env and env ~= "" then
        local ok, lib = pcall(ffi.load, env)
        if not ok then
            error("vidaction: cannot load VIDACTION_LIBRARY=" .. env .. ": " .. tostring(lib), 0)
        end
        return lib, env
    end
    local candidates = {}
    local dir = module_dir()
    if dir then
        candidates[#candidates + 1] = dir .. "/../../lib/libvidaction.so.0"
    end
    candidates[#candidates + 1] = "libvidaction.so.0"
    candidates[#candidates + 1] = "vidaction"
    local errs = {}
    for i, name in ipairs(candidates) do
        -- a path that is not there is skipped quietly; a name goes to the dynamic loader
        local f = name:find("/") and io.open(name, "rb")
        if f then
            f:close()
        end
        if f or not name:find("/") then
            local ok, lib = pcall(ffi.load, name)
            if ok then
                return lib, name
            end
            errs[#errs + 1] = tostring(lib)
        end
    end
    error("vidaction: cannot find libvidaction (set VIDACTION_LIBRARY): " .. table.concat(errs, "; "), 0)
end

local C, library_path = load_library()
vida.C = C                       -- the raw FFI namespace: every vida_* function and constant
vida.library_path = library_path -- what was loaded

-- ---- errors --------------------------------------------------------------------

local code_names = {}
for _, n in ipairs({"OK", "EINVAL", "EIO", "EFORMAT", "EDECODE", "EUNSUPPORTED", "ENOMEM",
                    "EDEVICE", "ENONFINITE", "ECANCELLED", "ESTATE", "EMISMATCH"}) do
    code_names[tonumber(C["VIDA_" .. n])] = n
end

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
    return "vidaction: " .. e.message .. " (" .. e.name .. ", " .. e.code .. ")"
end
vida.Error = Error

function vida.is_error(x)
    return getmetatable(x) == Error
end

local function raise(code, op, message)
    code = tonumber(code)
    error(setmetatable({code = code, name = code_names[code] or "E?", op = op,
                        message = message}, Error), 0)
end

-- Raises the library's error for a failed call (rc < 0); returns rc otherwise.
local function check(rc, op)
    rc = tonumber(rc)
    if rc < 0 then
        local detail = ffi.string(C.vida_last_error())
        if detail == "" then
            detail = op .. ": " .. ffi.string(C.vida_strerror(rc))
        end
        raise(rc, op, detail)
    end
    return rc
end
vida.check = check

local function argerror(op, message)
    raise(C.VIDA_EINVAL, op, op .. ": " .. message)
end

-- ---- version, features -----------------------------------------------------------

-- "MAJOR.MINOR.PATCH" of the loaded library, and its number (MAJOR*10000 + MINOR*100 + PATCH).
function vida.version()
    return ffi.string(C.vida_version_string()), tonumber(C.vida_version_number())
end

-- The version of the headers the cdef was generated from (VIDA_VERSION_NUMBER).
vida.header_version = tonumber(C.VIDA_VERSION_NUMBER)

local feature_bits = {cpu = "CPU", cblas = "CBLAS", cuda = "CUDA", cudnn = "CUDNN",
                      ffmpeg = "FFMPEG", mpi = "MPI", nccl = "NCCL"}

-- A set of what the build has compiled in ({cpu = true, cblas = true, ...}) and its description.
function vida.features()
    local bits, set = tonumber(C.vida_features()), {}
    for name, c in pairs(feature_bits) do
        if bit.band(bits, tonumber(C["VIDA_FEATURE_" .. c])) ~= 0 then
            set[name] = true
        end
    end
    return set, ffi.string(C.vida_features_string())
end

function vida.strerror(code)
    return ffi.string(C.vida_strerror(code))
end

-- ---- helpers -------------------------------------------------------------------

-- Sets fields of a params struct from an options table; enum-valued fields
-- may be given by name through enums[field][name]. Keys in skip are left alone.
local function fill(p, opts, op, enums, skip)
    for k, v in pairs(opts or {}) do
        if not (skip and skip[k]) then
            if enums and enums[k] and type(v) == "string" then
                local e = enums[k][v:lower()]
                if not e then
                    argerror(op, "option " .. k .. " = '" .. v .. "' is not one of the known values")
                end
                v = e
            elseif type(v) == "boolean" then
                v = v and 1 or 0
            end
            local ok, err = pcall(function() p[k] = v end)
            if not ok then
                argerror(op, "option '" .. tostring(k) .. "': " .. tostring(err))
            end
        end
    end
    return p
end

local function struct_table(s, fields)
    local t = {}
    for _, f in ipairs(fields) do
        local v = s[f]
        if type(v) == "cdata" then
            v = tonumber(v)
        end
        t[f] = v
    end
    return t
end

-- A handle with ffi.gc, and its explicit, idempotent free.
local function handle_of(obj, what)
    local h = obj._h
    if h == nil then
        raise(C.VIDA_ESTATE, what, what .. ": the " .. obj._kind .. " was freed")
    end
    return h
end

local function free_handle(obj, freefn)
    local h = obj._h
    if h ~= nil then
        obj._h = nil
        freefn(ffi.gc(h, nil))
    end
end

-- ---- tensors -------------------------------------------------------------------

local dtype_ctype = {f32 = "float", u8 = "uint8_t", i32 = "int32_t", i64 = "int64_t", bf16 = "uint16_t"}
local dtype_code = {f32 = C.VIDA_DTYPE_F32, u8 = C.VIDA_DTYPE_U8, i32 = C.VIDA_DTYPE_I32,
                    i64 = C.VIDA_DTYPE_I64, bf16 = C.VIDA_DTYPE_BF16}
local dtype_name = {}
for n, c in pairs(dtype_code) do
    dtype_name[tonumber(c)] = n
end

local Tensor = {}
Tensor.__index = Tensor
vida.Tensor = Tensor

local function numel_of(shape)
    local n = 1
    for i = 1, #shape do
        n = n * shape[i]
    end
    return n
end

local function flatten(t, shape, depth, out)
    local n = #t
    if shape[depth] == nil then
        shape[depth] = n
    elseif shape[depth] ~= n then
        argerror("vida.tensor", "ragged nested table at depth " .. depth)
    end
    for i = 1, n do
        local v = t[i]
        if type(v) == "table" then
            flatten(v, shape, depth + 1, out)
        else
            if depth ~= #shape then
                argerror("vida.tensor", "ragged nested table at depth " .. depth)
            end
            out[#out + 1] = v
        end
    end
end

--[[
vida.tensor(data, shape, dtype): a Tensor (dtype "f32" by default).
data: a nested Lua table (shape then optional), a flat Lua table of numbers,
an FFI array or pointer (not copied: it must live as long as the tensor), or
nil for zeros.
]]
function vida.tensor(data, shape, dtype)
    dtype = dtype or "f32"
    local ct = dtype_ctype[dtype]
    if not ct then
        argerror("vida.tensor", "unknown dtype '" .. tostring(dtype) .. "'")
    end
    if getmetatable(data) == Tensor then
        return data
    end
    local flat
    if type(data) == "table" and shape == nil then
        shape, flat = {}, {}
        flatten(data, shape, 1, flat)
    elseif type(data) == "table" then
        flat = data
    end
    if type(shape) ~= "table" or #shape < 1 or #shape > C.VIDA_MAX_DIMS then
        argerror("vida.tensor", "a shape table of 1 to 8 sizes is needed")
    end
    local s = {}
    for i = 1, #shape do
        s[i] = tonumber(shape[i])
        if not s[i] or s[i] < 0 or s[i] % 1 ~= 0 then
            argerror("vida.tensor", "shape[" .. i .. "] = " .. tostring(shape[i]) .. " is not a size")
        end
    end
    local n = numel_of(s)
    local t = setmetatable({shape = s, dtype = dtype, n = n}, Tensor)
    if type(data) == "cdata" then
        t.data = ffi.cast(ct .. " *", data)
        t._keep = data
        return t
    end
    t.data = ffi.new(ct .. "[?]", n > 0 and n or 1)
    if flat then
        if #flat ~= n then
            argerror("vida.tensor", #flat .. " values for shape of " .. n .. " elements")
        end
        for i = 1, n do
            t.data[i - 1] = flat[i]
        end
    elseif data ~= nil then
        argerror("vida.tensor", "data must be a table, an FFI array or nil")
    end
    return t
end

function Tensor:numel()
    return self.n
end

-- Size of the data in bytes.
function Tensor:nbytes()
    return self.n * ffi.sizeof(dtype_ctype[self.dtype])
end

-- Nested Lua tables in the tensor's shape (integers of i64 tensors as Lua numbers).
function Tensor:totable()
    local shape, data, pos = self.shape, self.data, 0
    local function build(d)
        local t = {}
        for i = 1, shape[d] do
            if d == #shape then
                t[i] = tonumber(data[pos])
                pos = pos + 1
            else
                t[i] = build(d + 1)
            end
        end
        return t
    end
    return build(1)
end

-- The values in one flat Lua table (row-major).
function Tensor:flat()
    local t = {}
    for i = 0, self.n - 1 do
        t[i + 1] = tonumber(self.data[i])
    end
    return t
end

-- A vida_tensor struct viewing t (the caller keeps t alive during the call).
local function view(t)
    local v = ffi.new("vida_tensor")
    v.data = t.data
    v.dtype = dtype_code[t.dtype]
    v.layout = #t.shape == 5 and C.VIDA_LAYOUT_NCTHW or C.VIDA_LAYOUT_ANY
    v.ndim = #t.shape
    for i = 1, #t.shape do
        v.shape[i - 1] = t.shape[i]
    end
    return v
end

-- A copy of a vida_tensor's memory as a Tensor.
local function copy_view(v)
    local name = dtype_name[tonumber(v.dtype)]
    local shape = {}
    for i = 0, v.ndim - 1 do
        shape[i + 1] = tonumber(v.shape[i])
    end
    if #shape == 0 then
        shape = {1} -- a scalar, as one element
    end
    local t = vida.tensor(nil, shape, name)
    ffi.copy(t.data, v.data, t.n * ffi.sizeof(dtype_ctype[name]))
    return t
end

local function input_f32(x, shape, op)
    local t = vida.tensor(x, shape, "f32")
    if t.dtype ~= "f32" then
        argerror(op, "input must be float32, not " .. t.dtype)
    end
    if #t.shape ~= 5 then
        argerror(op, "input must be [N, 3, T, H, W], got " .. #t.shape .. " dimensions")
    end
    return t
end

-- ---- context -------------------------------------------------------------------

local Context = {_kind = "context"}
Context.__index = Context
vida.Context = Context

local backends = {auto = C.VIDA_BACKEND_AUTO, cpu = C.VIDA_BACKEND_CPU, cuda = C.VIDA_BACKEND_CUDA}
local precisions = {fp32 = C.VIDA_PRECISION_FP32, bf16 = C.VIDA_PRECISION_BF16,
                    fp16 = C.VIDA_PRECISION_FP16}

--[[
vida.context{backend = "auto"|"cpu"|"cuda", device = 0, threads = 0 (all CPUs),
seed = 0, log_level = 1, precision = "fp32"|"bf16"|"fp16"}. Handles made from
a context keep it alive.
]]
function vida.context(opts)
    opts = opts or {}
    local p = ffi.new("vida_context_params")
    C.vida_context_params_init(p)
    fill(p, opts, "vida.context", {backend = backends}, {threads = true, precision = true})
    if opts.threads then
        p.n_threads = opts.threads
    end
    local out = ffi.new("vida_context *[1]")
    check(C.vida_context_create(out, p), "vida.context")
    local ctx = setmetatable({_h = ffi.gc(out[0], C.vida_context_free)}, Context)
    if opts.precision then
        local pr = precisions[opts.precision] or opts.precision
        check(C.vida_context_set_precision(ctx._h, pr), "vida.context")
    end
    return ctx
end

function Context:free()
    free_handle(self, C.vida_context_free)
end
Context.close = Context.free

function Context:backend()
    local b = tonumber(C.vida_context_backend(handle_of(self, "Context:backend")))
    return b == tonumber(C.VIDA_BACKEND_CUDA) and "cuda" or "cpu"
end

function Context:device_name()
    return ffi.string(C.vida_context_device_name(handle_of(self, "Context:device_name")))
end

function Context:threads()
    return tonumber(C.vida_context_n_threads(handle_of(self, "Context:threads")))
end

local default_ctx

-- The context used when none is given: created on first use with the defaults.
function vida.default_context()
    if not default_ctx then
        default_ctx = vida.context()
    end
    return default_ctx
end

-- Replaces the default context (e.g. vida.set_default_context(vida.context{threads = 2})).
function vida.set_default_context(ctx)
    default_ctx = ctx
end

local function ctx_of(opts, op)
    local ctx = opts and opts.ctx or vida.default_context()
    return ctx, handle_of(ctx, op)
end

-- ---- tensor files --------------------------------------------------------------

local TensorFile = {_kind = "tensor file"}
TensorFile.__index = TensorFile
vida.TensorFile = TensorFile

-- Reads a safetensors file (vida_tensorfile_read).
function vida.read_tensors(path)
    local out = ffi.new("vida_tensorfile *[1]")
    check(C.vida_tensorfile_read(out, path), "vida.read_tensors")
    return setmetatable({_h = ffi.gc(out[0], C.vida_tensorfile_free), path = path}, TensorFile)
end

function TensorFile:names()
    local h = handle_of(self, "TensorFile:names")
    local names, p = {}, ffi.new("const char *[1]")
    for i = 0, C.vida_tensorfile_count(h) - 1 do
        check(C.vida_tensorfile_name(h, i, p), "TensorFile:names")
        names[#names + 1] = ffi.string(p[0])
    end
    return names
end

-- A copy of tensor `name` (an I64 or other dtype as it is in the file; a scalar as shape {1}).
function TensorFile:get(name)
    local v = ffi.new("vida_tensor")
    check(C.vida_tensorfile_get(handle_of(self, "TensorFile:get"), name, v), "TensorFile:get")
    return copy_view(v)
end

function TensorFile:free()
    free_handle(self, C.vida_tensorfile_free)
end
TensorFile.close = TensorFile.free

--[[
vida.write_tensors(path, tensors): writes a safetensors file atomically.
tensors: an array of {name, tensor} pairs (written in that order) or a map
name -> tensor (written in name order). A tensor is a vida.Tensor or anything
vida.tensor accepts without a shape (a nested table).
]]
function vida.write_tensors(path, tensors)
    local list = {}
    if tensors[1] then
        for i, p in ipairs(tensors) do
            list[i] = {p[1], vida.tensor(p[2])}
        end
    else
        for k, v in pairs(tensors) do
            list[#list + 1] = {k, vida.tensor(v)}
        end
        table.sort(list, function(a, b) return a[1] < b[1] end)
    end
    local n = #list
    local names = ffi.new("const char *[?]", n > 0 and n or 1)
    local views = ffi.new("vida_tensor[?]", n > 0 and n or 1)
    for i, p in ipairs(list) do
        names[i - 1] = p[1]
        views[i - 1] = view(p[2])
    end
    check(C.vida_tensorfile_write(path, n, names, views), "vida.write_tensors")
    return list -- keeps the names and data alive until here
end

-- ---- models --------------------------------------------------------------------

local Model = {_kind = "model"}
Model.__index = Model
vida.Model = Model

local archs = {r2plus1d = C.VIDA_ARCH_R2PLUS1D, r3d = C.VIDA_ARCH_R3D, mc3 = C.VIDA_ARCH_MC3,
               r2d = C.VIDA_ARCH_R2D}
local midplanes = {["per-conv"] = C.VIDA_MIDPLANES_PER_CONV, ["per-block"] = C.VIDA_MIDPLANES_PER_BLOCK}

local function wrap_model(h, ctx)
    -- the optimizers of this model still alive, by address: freed before the model
    -- (vida_optimizer_free reaches into its model), whatever order the GC takes
    local live = {}
    local m = setmetatable({_ctx = ctx, _live = live}, Model)
    m._h = ffi.gc(h, function(p)
        for k, o in pairs(live) do
            live[k] = nil
            C.vida_optimizer_free(o)
        end
        C.vida_model_free(p)
    end)
    return m
end

-- Loads a model file: Model.load(path [, {ctx = context}]).
function Model.load(path, opts)
    local ctx, ch = ctx_of(opts, "Model.load")
    local out = ffi.new("vida_model *[1]")
    check(C.vida_model_load(out, ch, path), "Model.load")
    return wrap_model(out[0], ctx)
end

--[[
Model.create{arch = "r2plus1d", depth = 18, num_classes = 400, width = 1.0,
midplanes = "per-block"|"per-conv", pool1, bn_eps, bn_momentum, dropout,
labels = {...}, meta = {key = value}, ctx = context}: fresh weights.
arch: "r2plus1d", "r3d", "mc3", "r2d", or with the depth ("r2plus1d_18").
]]
function Model.create(opts)
    opts = opts or {}
    local p = ffi.new("vida_model_params")
    C.vida_model_params_init(p)
    local o = {}
    for k, v in pairs(opts) do
        o[k] = v
    end
    if type(o.arch) == "string" then
        local a, d = o.arch:lower():match("^([%a%d]-)_(%d+)$")
        if a and archs[a] then
            o.arch, o.depth = a, o.depth or tonumber(d)
        end
    end
    fill(p, o, "Model.create", {arch = archs, midplanes = midplanes},
         {ctx = true, labels = true, meta = true})
    local ctx, ch = ctx_of(opts, "Model.create")
    local out = ffi.new("vida_model *[1]")
    check(C.vida_model_create(out, ch, p), "Model.create")
    local m = wrap_model(out[0], ctx)
    if opts.labels then
        m:set_labels(opts.labels)
    end
    for k, v in pairs(opts.meta or {}) do
        m:set_meta(k, v)
    end
    return m
end

function Model:free()
    local h = self._h
    if h ~= nil then
        self._h = nil
        local live = self._live
        for k, o in pairs(live) do
            live[k] = nil
            C.vida_optimizer_free(o)
        end
        C.vida_model_free(ffi.gc(h, nil))
    end
end
Model.close = Model.free

-- Writes the model file atomically.
function Model:save(path)
    check(C.vida_model_save(handle_of(self, "Model:save"), path), "Model:save")
end

function Model:num_classes()
    return tonumber(C.vida_model_num_classes(handle_of(self, "Model:num_classes")))
end

function Model:feature_dim()
    return tonumber(C.vida_model_feature_dim(handle_of(self, "Model:feature_dim")))
end

function Model:num_params()
    return tonumber(C.vida_model_num_params(handle_of(self, "Model:num_params")))
end

-- The creation parameters as a table (arch and midplanes as numbers, VIDA_ARCH_*).
function Model:params()
    local p = ffi.new("vida_model_params")
    p.size = ffi.sizeof(p)
    check(C.vida_model_get_params(handle_of(self, "Model:params"), p), "Model:params")
    return struct_table(p, {"arch", "depth", "midplanes", "pool1", "num_classes", "width",
                            "bn_eps", "bn_momentum", "dropout"})
end

-- Metadata value of key, or nil.
function Model:meta(key)
    local s = C.vida_model_get_meta(handle_of(self, "Model:meta"), key)
    return s ~= nil and ffi.string(s) or nil
end

function Model:set_meta(key, value)
    check(C.vida_model_set_meta(handle_of(self, "Model:set_meta"), key, tostring(value)),
          "Model:set_meta")
end

local function json_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        local esc = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r'}
        return esc[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
end

local function utf8_char(cp)
    if cp < 0x80 then
        return string.char(cp)
    elseif cp < 0x800 then
        return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64)
    elseif cp < 0x10000 then
        return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
    end
    return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
                       0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

-- Parses a JSON array of strings (the "labels" metadata); nil when it is not one.
local function parse_string_array(s)
    local pos, out = 1, {}
    local function ws()
        pos = s:find("[^ \t\r\n]", pos) or #s + 1
    end
    ws()
    if s:sub(pos, pos) ~= "[" then
        return nil
    end
    pos = pos + 1
    ws()
    if s:sub(pos, pos) == "]" then
        return out
    end
    while true do
        if s:sub(pos, pos) ~= '"' then
            return nil
        end
        pos = pos + 1
        local buf = {}
        while true do
            local c = s:sub(pos, pos)
            if c == "" then
                return nil
            elseif c == '"' then
                pos = pos + 1
                break
            elseif c == "\\" then
                local e = s:sub(pos + 1, pos + 1)
                local simple = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                                n = "\n", r = "\r", t = "\t"}
                if simple[e] then
                    buf[#buf + 1] = simple[e]
                    pos = pos + 2
                elseif e == "u" then
                    local cp = tonumber(s:sub(pos + 2, pos + 5), 16)
                    if not cp then
                        return nil
                    end
                    pos = pos + 6
                    if cp >= 0xD800 and cp < 0xDC00 and s:sub(pos, pos + 1) == "\\u" then
                        local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
                        if lo and lo >= 0xDC00 and lo < 0xE000 then
                            cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
                            pos = pos + 6
                        end
                    end
                    buf[#buf + 1] = utf8_char(cp)
                else
                    return nil
                end
            else
                buf[#buf + 1] = c
                pos = pos + 1
            end
        end
        out[#out + 1] = table.concat(buf)
        ws()
        local c = s:sub(pos, pos)
        pos = pos + 1
        if c == "]" then
            return out
        elseif c ~= "," then
            return nil
        end
        ws()
    end
end

-- Class names from the "labels" metadata (a JSON array), or nil when absent or not one per class.
function Model:labels()
    local s = self:meta("labels")
    local names = s and parse_string_array(s)
    if names and #names == self:num_classes() then
        return names
    end
    return nil
end

function Model:set_labels(names)
    local parts = {}
    for i, n in ipairs(names) do
        parts[i] = json_string(tostring(n))
    end
    self:set_meta("labels", "[" .. table.concat(parts, ",") .. "]")
end

-- "eval" (BN on running statistics) or "train" (batch statistics, dropout): forward runs in it.
function Model:set_mode(mode)
    local v = mode == "train" and C.VIDA_MODE_TRAIN or mode == "eval" and C.VIDA_MODE_EVAL or mode
    check(C.vida_model_set_mode(handle_of(self, "Model:set_mode"), v), "Model:set_mode")
    return self
end

function Model:train()
    return self:set_mode("train")
end

function Model:eval()
    return self:set_mode("eval")
end

-- Names of the model's tensors in state_dict order, and their shapes by name.
function Model:tensors()
    local h = handle_of(self, "Model:tensors")
    local names, shapes = {}, {}
    local pn, pd, pt = ffi.new("const char *[1]"), ffi.new("int[1]"), ffi.new("int[1]")
    local ps = ffi.new("int64_t[?]", C.VIDA_MAX_DIMS)
    for i = 0, C.vida_model_n_tensors(h) - 1 do
        check(C.vida_model_tensor_info(h, i, pn, pd, ps, pt), "Model:tensors")
        local name, shape = ffi.string(pn[0]), {}
        for d = 0, pd[0] - 1 do
            shape[d + 1] = tonumber(ps[d])
        end
        names[#names + 1] = name
        shapes[name] = shape
    end
    return names, shapes
end

local function tensor_shape(m, name, op)
    local _, shapes = m:tensors()
    local shape = shapes[name]
    if not shape then
        check(C.vida_model_get_tensor(handle_of(m, op), name, nil, 0), op) -- the library's message
        argerror(op, "no tensor '" .. name .. "'")
    end
    return #shape > 0 and shape or {1}
end

-- A copy of tensor `name` (float32, file layout); grad = true for its gradient.
function Model:get_tensor(name, grad)
    local op = grad and "Model:get_grad" or "Model:get_tensor"
    local t = vida.tensor(nil, tensor_shape(self, name, op))
    local f = grad and C.vida_model_get_grad or C.vida_model_get_tensor
    check(f(handle_of(self, op), name, t.data, t.n), op)
    return t
end

-- Sets tensor `name` from a Tensor, a flat table or an FFI float array of its element count.
function Model:set_tensor(name, data)
    local shape = tensor_shape(self, name, "Model:set_tensor")
    local t = getmetatable(data) == Tensor and data or vida.tensor(data, shape)
    if t.dtype ~= "f32" then
        argerror("Model:set_tensor", "data must be float32")
    end
    check(C.vida_model_set_tensor(handle_of(self, "Model:set_tensor"), name, t.data, t.n),
          "Model:set_tensor")
end

--[[
model:forward(x [, shape] [, {features = true}]) -> logits [, features]
x: float32 [N, 3, T, H, W] as a vida.Tensor, a nested Lua table, or a flat
Lua table or FFI float array with shape. Returns Tensors: logits {N, classes}
(and features {N, feature_dim}). Runs in the model's current mode (eval after
load/create; train_step leaves it in train).
]]
function Model:forward(x, shape, opts)
    if opts == nil and type(shape) == "table" and shape[1] == nil then
        shape, opts = nil, shape
    end
    local h = handle_of(self, "Model:forward")
    local t = input_f32(x, shape, "Model:forward")
    local N = t.shape[1]
    local logits = vida.tensor(nil, {N, self:num_classes()})
    local feats = opts and opts.features and vida.tensor(nil, {N, self:feature_dim()}) or nil
    local vl = view(logits)
    check(C.vida_model_forward(h, view(t), vl, feats and view(feats) or nil), "Model:forward")
    return logits, feats
end

-- Sets every gradient to zero.
function Model:zero_grad()
    check(C.vida_model_zero_grad(handle_of(self, "Model:zero_grad")), "Model:zero_grad")
end

-- Back-propagates dlogits [N, classes] through the last training-mode forward; with
-- want_dinput, returns d loss / d input [N, 3, T, H, W] (shape of that forward's input, given).
function Model:backward(dlogits, dinput_shape)
    local d = vida.tensor(dlogits, nil, "f32")
    local di = dinput_shape and vida.tensor(nil, dinput_shape) or nil
    check(C.vida_model_backward(handle_of(self, "Model:backward"), view(d), di and view(di) or nil),
          "Model:backward")
    return di
end

local loss_kinds = {softmax_ce = C.VIDA_LOSS_SOFTMAX_CE, softmax_ce_soft = C.VIDA_LOSS_SOFTMAX_CE_SOFT,
                    sigmoid_bce = C.VIDA_LOSS_SIGMOID_BCE}

--[[
vida.loss(kind, logits, target) -> loss, dlogits. kind: "softmax_ce" (target:
0-based class numbers, a table or an i32 Tensor [N]), "softmax_ce_soft" or
"sigmoid_bce" (target: float32 [N, K]).
]]
function vida.loss(kind, logits, target)
    local k = loss_kinds[kind] or kind
    local l = vida.tensor(logits)
    local tg
    if k == C.VIDA_LOSS_SOFTMAX_CE and type(target) == "table" and getmetatable(target) ~= Tensor then
        tg = vida.tensor(target, {#target}, "i32")
    else
        tg = vida.tensor(target)
    end
    local d = vida.tensor(nil, l.shape)
    local out = ffi.new("float[1]")
    check(C.vida_loss(k, view(l), view(tg), out, view(d)), "vida.loss")
    return tonumber(out[0]), d
end

-- ---- optimizer -----------------------------------------------------------------

local Optimizer = {_kind = "optimizer"}
Optimizer.__index = Optimizer
vida.Optimizer = Optimizer

local schedules = {constant = C.VIDA_SCHEDULE_CONSTANT, step = C.VIDA_SCHEDULE_STEP,
                   cosine = C.VIDA_SCHEDULE_COSINE}

--[[
vida.SGD(model, {lr = 0.01, momentum = 0.9, weight_decay = 1e-4, nesterov = false,
schedule = "constant"|"step"|"cosine", warmup_steps, warmup_start, total_steps,
min_lr, milestones = {...}, gamma, batch, base_batch, clip_norm,
decay_norm_and_bias}) -- the fields of vida_optimizer_params. The optimizer
keeps its model alive; freeing the model frees it.
]]
function vida.SGD(model, opts)
    opts = opts or {}
    local mh = handle_of(model, "vida.SGD")
    local p = ffi.new("vida_optimizer_params")
    C.vida_optimizer_params_init(p)
    fill(p, opts, "vida.SGD", {schedule = schedules}, {milestones = true})
    if opts.milestones then
        if #opts.milestones > C.VIDA_MAX_MILESTONES then
            argerror("vida.SGD", "at most " .. tonumber(C.VIDA_MAX_MILESTONES) .. " milestones")
        end
        p.n_milestones = #opts.milestones
        for i, s in ipairs(opts.milestones) do
            p.milestones[i - 1] = s
        end
    end
    local out = ffi.new("vida_optimizer *[1]")
    check(C.vida_optimizer_create(out, mh, p), "vida.SGD")
    local raw = out[0]
    local key = tostring(tonumber(ffi.cast("uintptr_t", raw)))
    local live = model._live
    live[key] = raw
    local o = setmetatable({model = model, _key = key, _live = live}, Optimizer)
    o._h = ffi.gc(ffi.cast("vida_optimizer *", raw), function(q)
        if live[key] ~= nil then
            live[key] = nil
            C.vida_optimizer_free(q)
        end
    end)
    return o
end

local function opt_handle(o, op)
    local h = handle_of(o, op)
    if o._live[o._key] == nil then
        raise(C.VIDA_ESTATE, op, op .. ": the optimizer was freed with its model")
    end
    return h
end

function Optimizer:free()
    local h = self._h
    if h ~= nil then
        self._h = nil
        ffi.gc(h, nil)
        if self._live[self._key] ~= nil then
            self._live[self._key] = nil
            C.vida_optimizer_free(h)
        end
    end
end
Optimizer.close = Optimizer.free

-- One update from the model's gradients (after model:backward).
function Optimizer:step()
    check(C.vida_optimizer_step(opt_handle(self, "Optimizer:step")), "Optimizer:step")
end

-- The learning rate of step s (of the next step when s is nil).
function Optimizer:lr(s)
    return tonumber(C.vida_optimizer_lr(opt_handle(self, "Optimizer:lr"), s or -1))
end

function Optimizer:set_group(prefix, lr_mult, wd_mult)
    check(C.vida_optimizer_set_group(opt_handle(self, "Optimizer:set_group"), prefix, lr_mult,
                                     wd_mult or 1), "Optimizer:set_group")
end

function Optimizer:stats()
    local st = ffi.new("vida_optimizer_stats")
    st.size = ffi.sizeof(st)
    check(C.vida_optimizer_get_stats(opt_handle(self, "Optimizer:stats"), st), "Optimizer:stats")
    return struct_table(st, {"steps", "skipped", "consecutive_skips", "last_grad_norm", "last_lr"})
end

local target_kinds = {single = C.VIDA_TARGET_SINGLE, soft = C.VIDA_TARGET_SOFT,
                      multihot = C.VIDA_TARGET_MULTIHOT}

--[[
model:train_step(opt, clips, targets [, shape] [, {target = "soft"|"multihot", fc_only = true}])
-> loss. One vida_train_step: training-mode forward, loss, backward, update.
clips: float32 [N, 3, T, H, W] as for forward (or uint8 [N, T, H, W, 3]
Tensor, normalised with the model's mean/std). targets: a table of N class
numbers (0-based; softmax cross-entropy), or N rows of K floats (soft targets,
or multi-hot with target = "multihot"). Or model:train_step(opt, batch) with
a Loader batch. A non-finite loss skips the update and raises ENONFINITE.
]]
function Model:train_step(opt, clips, targets, shape, opts)
    if opts == nil and type(shape) == "table" and shape[1] == nil then
        shape, opts = nil, shape
    end
    opts = opts or {}
    local op = "Model:train_step"
    local mh, oh = handle_of(self, op), opt_handle(opt, op)
    if opt.model ~= self then
        argerror(op, "the optimizer belongs to another model")
    end
    local f = opts.fc_only and C.vida_train_step_fc or C.vida_train_step
    local loss = ffi.new("float[1]")
    if getmetatable(clips) == vida.Batch then
        check(f(mh, oh, clips:_struct(op), clips.target_kind, loss), op)
        return tonumber(loss[0])
    end
    local x = vida.tensor(clips, shape)
    local N, K = x.shape[1], self:num_classes()
    if type(targets) ~= "table" or #targets ~= N then
        argerror(op, "targets must be a table of " .. N .. " labels or rows")
    end
    local kind = target_kinds[opts.target or (type(targets[1]) == "table" and "soft" or "single")]
    if not kind then
        argerror(op, "target '" .. tostring(opts.target) .. "' is not single, soft or multihot")
    end
    local labels = ffi.new("int32_t[?]", N)
    local rows = vida.tensor(nil, {N, K})
    local zeros = ffi.new("int64_t[?]", N)
    for i = 1, N do
        local t = targets[i]
        if type(t) == "table" then
            if #t ~= K then
                argerror(op, "target row " .. i .. " has " .. #t .. " values, the model " .. K .. " classes")
            end
            local best = 1
            for j = 1, K do
                rows.data[(i - 1) * K + j - 1] = t[j]
                if t[j] > t[best] then
                    best = j
                end
            end
            labels[i - 1] = best - 1
        else
            if type(t) ~= "number" or t < 0 or t >= K or t % 1 ~= 0 then
                argerror(op, "label " .. i .. " = " .. tostring(t) .. " is not a class number 0.." .. K - 1)
            end
            labels[i - 1] = t
            rows.data[(i - 1) * K + t] = 1
        end
    end
    local b = ffi.new("vida_batch")
    b.size = ffi.sizeof(b)
    b.n = N
    b.views = 1
    b.clips = view(x)
    if x.dtype == "u8" then
        b.clips.layout = C.VIDA_LAYOUT_NTHWC
    end
    b.targets = view(rows)
    b.labels = labels
    b.videos = zeros
    b.draws = zeros
    b.last_in_epoch = 1
    local rc = f(mh, oh, b, kind, loss)
    check(rc, op)
    return tonumber(loss[0])
end

-- ---- video and sampling --------------------------------------------------------

local Video = {_kind = "video"}
Video.__index = Video
vida.Video = Video

-- Opens a video: Video.open(path [, {ctx = ..., max_pixels, max_decode_frames, deadline, threads, stream}]).
function Video.open(path, opts)
    opts = opts or {}
    local p = ffi.new("vida_video_params")
    C.vida_video_params_init(p)
    fill(p, opts, "Video.open", nil, {ctx = true})
    local ctx = opts.ctx or vida.default_context()
    local out = ffi.new("vida_video *[1]")
    check(C.vida_video_open(out, handle_of(ctx, "Video.open"), path, p), "Video.open")
    return setmetatable({_h = ffi.gc(out[0], C.vida_video_free), path = path}, Video)
end
setmetatable(Video, {__call = function(_, ...) return Video.open(...) end})

function Video:free()
    free_handle(self, C.vida_video_free)
end
Video.close = Video.free

function Video:info()
    local i = ffi.new("vida_video_info")
    i.size = ffi.sizeof(i)
    check(C.vida_video_get_info(handle_of(self, "Video:info"), i), "Video:info")
    local t = struct_table(i, {"n_frames", "header_frames", "duration", "avg_fps", "real_fps",
                               "start_time", "vfr", "width", "height", "coded_width",
                               "coded_height", "rotation", "n_keyframes", "max_keyframe_gap",
                               "bit_depth", "full_range", "sequential"})
    t.codec, t.format, t.pix_fmt = ffi.string(i.codec), ffi.string(i.format), ffi.string(i.pix_fmt)
    return t
end

-- Frames (0-based indices, a table) as uint8 RGB [n, H, W, 3]; geometry: the fields of
-- vida_frame_geometry (short_side, scale_width, scale_height, crop_width, ..., flip).
function Video:read(indices, geometry)
    local h = handle_of(self, "Video:read")
    local g = ffi.new("vida_frame_geometry")
    C.vida_frame_geometry_init(g)
    fill(g, geometry, "Video:read")
    local w, ht = ffi.new("int[1]"), ffi.new("int[1]")
    check(C.vida_video_output_size(h, g, w, ht), "Video:read")
    local n = #indices
    local idx = ffi.new("int64_t[?]", n > 0 and n or 1)
    for i = 1, n do
        idx[i - 1] = indices[i]
    end
    local t = vida.tensor(nil, {n, ht[0], w[0], 3}, "u8")
    check(C.vida_video_read(h, idx, n, g, t.data, t.n), "Video:read")
    return t
end

local Sampler = {_kind = "sampler"}
Sampler.__index = Sampler
vida.Sampler = Sampler

local clip_modes = {random = C.VIDA_CLIPS_RANDOM, uniform = C.VIDA_CLIPS_UNIFORM,
                    center = C.VIDA_CLIPS_CENTER, dense = C.VIDA_CLIPS_DENSE, start = C.VIDA_CLIPS_START}
local crop_modes = {center = C.VIDA_CROP_CENTER, random = C.VIDA_CROP_RANDOM,
                    three = C.VIDA_CROP_THREE, none = C.VIDA_CROP_NONE}
local outputs = {u8 = C.VIDA_SAMPLE_U8, f32 = C.VIDA_SAMPLE_F32}
local short_modes = {repeat_last = C.VIDA_SHORT_REPEAT_LAST, loop = C.VIDA_SHORT_LOOP,
                     error = C.VIDA_SHORT_ERROR}

--[[
vida.Sampler{frames = 16, stride = 1, fps, clip_mode = "random"|"uniform"|"center"|"dense"|"start",
clips = 1, crop = 112, crop_mode = "center"|..., short_side_min, short_side_max,
output = "u8"|"f32", mean = {3}, std = {3}, ...}: the fields of vida_sampler_params.
]]
function Sampler.new(opts)
    opts = opts or {}
    local p = ffi.new("vida_sampler_params")
    C.vida_sampler_params_init(p)
    fill(p, opts, "vida.Sampler", {clip_mode = clip_modes, crop_mode = crop_modes, output = outputs,
                                   short_video = short_modes}, {ctx = true, mean = true, std = true})
    for _, k in ipairs({"mean", "std"}) do
        if opts[k] then
            for c = 1, 3 do
                p[k][c - 1] = opts[k][c]
            end
        end
    end
    local ctx = opts.ctx or vida.default_context()
    local out = ffi.new("vida_sampler *[1]")
    check(C.vida_sampler_create(out, handle_of(ctx, "vida.Sampler"), p), "vida.Sampler")
    return setmetatable({_h = ffi.gc(out[0], C.vida_sampler_free),
                         f32 = p.output == C.VIDA_SAMPLE_F32}, Sampler)
end
setmetatable(Sampler, {__call = function(_, ...) return Sampler.new(...) end})

function Sampler:free()
    free_handle(self, C.vida_sampler_free)
end
Sampler.close = Sampler.free

-- The clips of a Video (seed: number, default 0): u8 [V, L, H, W, 3] or f32 [V, 3, L, H, W].
function Sampler:sample(video, seed, t_begin, t_end)
    local sh, vh = handle_of(self, "Sampler:sample"), handle_of(video, "Sampler:sample")
    local nv, shape = ffi.new("int64_t[1]"), ffi.new("int64_t[5]")
    check(C.vida_sampler_plan(sh, vh, nv, shape), "Sampler:sample")
    local s = {}
    for i = 0, 4 do
        s[i + 1] = tonumber(shape[i])
    end
    local t = vida.tensor(nil, s, self.f32 and "f32" or "u8")
    check(C.vida_sampler_sample_window(sh, vh, seed or 0, t_begin or 0, t_end or -1, t.data,
                                       t.n * (self.f32 and 4 or 1), nil, 0), "Sampler:sample")
    return t
end

local function softmax_mean(logits, nv, K)
    local p = {}
    for j = 1, K do
        p[j] = 0
    end
    for v = 0, nv - 1 do
        local x = logits + v * K
        local mx, sum = x[0], 0
        for j = 1, K - 1 do
            if x[j] > mx then
                mx = x[j]
            end
        end
        for j = 0, K - 1 do
            sum = sum + math.exp(x[j] - mx)
        end
        for j = 0, K - 1 do
            p[j + 1] = p[j + 1] + math.exp(x[j] - mx) / sum / nv
        end
    end
    return p
end

local function meta_int(m, key, fallback)
    local v = tonumber(m:meta(key) or "")
    return v and v > 0 and math.floor(v) or fallback
end

local function meta3(m, key)
    local s = m:meta(key)
    local a, b, c = (s or ""):match("^%s*([^,]+),([^,]+),([^,]+)%s*$")
    a, b, c = tonumber(a), tonumber(b), tonumber(c)
    return a and b and c and {a, b, c} or nil
end

--[[
model:classify(path [, clips = 10] [, top = 5]) -> results, n_views
The video's score is the mean softmax over `clips` clips spread uniformly
(centre crop; clip length, stride, short side, crop, mean and std from the
model's metadata), as `vidaction classify` does. results: the top classes in
descending score (ties to the lower class number), each {label = name (the
"labels" metadata, else the class number as a string), class = 0-based
number, score = probability}.
]]
function Model:classify(path, clips, top)
    clips, top = clips or 10, top or 5
    local K = self:num_classes()
    if top > K then
        top = K
    end
    local s = vida.Sampler{ctx = self._ctx, frames = meta_int(self, "clip_frames", 16),
                           stride = meta_int(self, "frame_stride", 1),
                           crop = meta_int(self, "crop", 112),
                           short_side_min = meta_int(self, "short_side", 128),
                           short_side_max = meta_int(self, "short_side", 128),
                           clip_mode = "uniform", clips = clips, crop_mode = "center",
                           output = "f32", mean = meta3(self, "mean"), std = meta3(self, "std")}
    local v = Video.open(path, {ctx = self._ctx})
    local x = s:sample(v)
    v:free()
    s:free()
    self:eval()
    local nv, per = x.shape[1], x.n / x.shape[1]
    local logits = ffi.new("float[?]", nv * K)
    for a = 0, nv - 1, 16 do -- the activations of 16 views at a time
        local k = math.min(16, nv - a)
        local chunk = vida.tensor(x.data + a * per, {k, x.shape[2], x.shape[3], x.shape[4], x.shape[5]})
        local l = vida.tensor(logits + a * K, {k, K})
        check(C.vida_model_forward(handle_of(self, "Model:classify"), view(chunk), view(l), nil),
              "Model:classify")
    end
    local p = softmax_mean(logits, nv, K)
    local order = {}
    for j = 1, K do
        order[j] = j
    end
    table.sort(order, function(a, b)
        if p[a] ~= p[b] then
            return p[a] > p[b]
        end
        return a < b
    end)
    local names = self:labels()
    local results = {}
    for r = 1, top do
        local j = order[r]
        results[r] = {class = j - 1, label = names and names[j] or tostring(j - 1), score = p[j]}
    end
    return results, nv
end

-- ---- datasets and loaders ------------------------------------------------------

local Dataset = {_kind = "dataset"}
Dataset.__index = Dataset
vida.Dataset = Dataset

local label_spaces = {target = C.VIDA_LABELS_TARGET, verb = C.VIDA_LABELS_VERB,
                      noun = C.VIDA_LABELS_NOUN, verb_noun = C.VIDA_LABELS_VERB_NOUN}
local resamples = {none = C.VIDA_RESAMPLE_NONE, natural = C.VIDA_RESAMPLE_NATURAL,
                   sqrt = C.VIDA_RESAMPLE_SQRT, uniform = C.VIDA_RESAMPLE_UNIFORM}
local prefers = {random = C.VIDA_PREFER_RANDOM, short = C.VIDA_PREFER_SHORT, long = C.VIDA_PREFER_LONG}

--[[
vida.Dataset(manifest, {root, taxonomy, label_space = "target"|"verb"|"noun"|"verb_noun",
min_count, target = "single"|"soft"|"multihot", resample = "none"|..., draws,
max_videos, max_minutes, clips_per_video, prefer, seed, classes = {...},
check_files, strict, probe_durations, ctx}): the fields of vida_dataset_params.
]]
function Dataset.open(manifest, opts)
    opts = opts or {}
    local p = ffi.new("vida_dataset_params")
    C.vida_dataset_params_init(p)
    fill(p, opts, "vida.Dataset", {label_space = label_spaces, target = target_kinds,
                                   resample = resamples, prefer = prefers},
         {ctx = true, classes = true, root = true, taxonomy = true})
    local keep = {opts.root, opts.taxonomy}
    p.root, p.taxonomy = opts.root, opts.taxonomy
    if opts.classes then
        local n = #opts.classes
        local arr = ffi.new("const char *[?]", n > 0 and n or 1)
        for i, c in ipairs(opts.classes) do
            arr[i - 1] = c
        end
        keep[#keep + 1] = arr
        p.classes, p.n_classes = arr, n
    end
    local ctx = opts.ctx or vida.default_context()
    local out = ffi.new("vida_dataset *[1]")
    check(C.vida_dataset_open(out, handle_of(ctx, "vida.Dataset"), manifest, p), "vida.Dataset")
    local _ = keep
    return setmetatable({_h = ffi.gc(out[0], C.vida_dataset_free), target_kind = p.target}, Dataset)
end
setmetatable(Dataset, {__call = function(_, ...) return Dataset.open(...) end})

function Dataset:free()
    free_handle(self, C.vida_dataset_free)
end
Dataset.close = Dataset.free

function Dataset:size()
    return tonumber(C.vida_dataset_size(handle_of(self, "Dataset:size")))
end

function Dataset:n_classes()
    return tonumber(C.vida_dataset_n_classes(handle_of(self, "Dataset:n_classes")))
end

function Dataset:epoch_size()
    return tonumber(C.vida_dataset_epoch_size(handle_of(self, "Dataset:epoch_size")))
end

-- Class names in class order (index 1 is class 0).
function Dataset:labels()
    local h, names = handle_of(self, "Dataset:labels"), {}
    for c = 0, self:n_classes() - 1 do
        names[c + 1] = ffi.string(C.vida_dataset_label_name(h, c))
    end
    return names
end

-- Lines or files that could not be used at open ("line N: why").
function Dataset:problems()
    local h, out = handle_of(self, "Dataset:problems"), {}
    for i = 0, tonumber(C.vida_dataset_n_problems(h)) - 1 do
        out[#out + 1] = ffi.string(C.vida_dataset_problem(h, i))
    end
    return out
end

local Loader = {_kind = "loader"}
Loader.__index = Loader
vida.Loader = Loader

local Batch = {}
Batch.__index = Batch
vida.Batch = Batch

--[[
vida.Loader(dataset, sampler, {batch = 8, threads = 1, seed = 0, rank, world,
epochs = 0, drop_last, prefetch, max_bytes, max_failures, failure_grace,
max_pixels, deadline, ctx}). loader:next() gives a Batch or nil at the end;
for batch in loader:batches() do ... end iterates.
]]
function Loader.new(ds, sampler, opts)
    opts = opts or {}
    local p = ffi.new("vida_loader_params")
    C.vida_loader_params_init(p)
    fill(p, opts, "vida.Loader", nil, {ctx = true})
    local ctx = opts.ctx or vida.default_context()
    local out = ffi.new("vida_loader *[1]")
    check(C.vida_loader_create(out, handle_of(ctx, "vida.Loader"), handle_of(ds, "vida.Loader"),
                               handle_of(sampler, "vida.Loader"), p), "vida.Loader")
    return setmetatable({_h = ffi.gc(out[0], C.vida_loader_free), dataset = ds, sampler = sampler,
                         _gen = 0}, Loader)
end
setmetatable(Loader, {__call = function(_, ...) return Loader.new(...) end})

function Loader:free()
    self._gen = self._gen + 1
    free_handle(self, C.vida_loader_free)
end
Loader.close = Loader.free

--[[
The next batch, or nil after the last epoch. A Batch has n, views, epoch,
number, failed, last_in_epoch, target_kind, and labels (0-based, a table);
batch:clips() and batch:targets() copy its tensors. Its memory is the
loader's: it is usable until the next loader:next() or loader:free().
]]
function Loader:next()
    local b = ffi.new("vida_batch")
    b.size = ffi.sizeof(b)
    check(C.vida_loader_next(handle_of(self, "Loader:next"), b), "Loader:next")
    self._gen = self._gen + 1
    if b["end"] ~= 0 then
        return nil
    end
    local labels = {}
    for i = 0, tonumber(b.n) - 1 do
        labels[i + 1] = tonumber(b.labels[i])
    end
    return setmetatable({_b = b, _loader = self, _gen = self._gen, n = tonumber(b.n),
                         views = tonumber(b.views), epoch = tonumber(b.epoch),
                         number = tonumber(b.number), failed = tonumber(b.failed),
                         last_in_epoch = b.last_in_epoch ~= 0, labels = labels,
                         target_kind = self.dataset.target_kind}, Batch)
end

function Loader:batches()
    return function() return self:next() end
end

function Batch:_struct(op)
    if self._gen ~= self._loader._gen then
        raise(C.VIDA_ESTATE, op, op .. ": the batch is gone (the loader moved on or was freed)")
    end
    return self._b
end

function Batch:clips()
    return copy_view(self:_struct("Batch:clips").clips)
end

function Batch:targets()
    return copy_view(self:_struct("Batch:targets").targets)
end

-- ---- SynthActions ------------------------------------------------------------------

local SYNTH_PRESETS = {["pretrain"] = 1, ["target-k"] = 2, ["target-ss"] = 3, ["target-epic"] = 4,
                       ["demo"] = 5}

--[[ vida.synth(dir, preset, {videos = N, seed = S, verbs = V, ..., ctx = context}): writes a
SynthActions data set (docs/synthactions.md); the options are the fields of vida_synth_params,
codec by name ("auto", "h264", "mpeg4"). Returns dir. ]]
function vida.synth(dir, preset, opts)
    local op = "vida.synth"
    local code = SYNTH_PRESETS[preset]
    if not code then
        argerror(op, "preset '" .. tostring(preset) .. "' is not one of pretrain, target-k, target-ss, target-epic, demo")
    end
    opts = opts or {}
    local p = ffi.new("vida_synth_params")
    C.vida_synth_params_init(p, code)
    fill(p, opts, op, {codec = {auto = 0, h264 = 1, mpeg4 = 2}}, {ctx = true})
    local _, h = ctx_of(opts, op)
    check(C.vida_synth_generate(h, dir, p), op)
    return dir
end

-- The 12 verbs and 12 nouns of SynthActions, and the verb a verb is played backwards (or nil).
function vida.synth_verbs()
    local t = {}
    for i = 0, C.vida_synth_n_verbs() - 1 do
        t[#t + 1] = ffi.string(C.vida_synth_verb_name(i))
    end
    return t
end

function vida.synth_nouns()
    local t = {}
    for i = 0, C.vida_synth_n_nouns() - 1 do
        t[#t + 1] = ffi.string(C.vida_synth_noun_name(i))
    end
    return t
end

function vida.synth_verb_reverse(i)
    local r = C.vida_synth_verb_reverse(i)
    return r >= 0 and r or nil
end

return vida
