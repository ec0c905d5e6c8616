-- The LuaJIT bindings (bindings/lua/vidaction.lua) against independent
-- references: the torchvision golden fixture (test/golden), the vidaction
-- program's own output, hand-computed losses, the C compiler's struct layout.
-- Run by test/lua/test_lua.sh (LUA_PATH=bindings/lua/?.lua, VIDA_LUA_TMP a
-- scratch directory); arguments select cases by name.
local ffi = require("ffi")
local bit = require("bit")
local vida = require("vidaction")

local tmp = assert(os.getenv("VIDA_LUA_TMP"), "VIDA_LUA_TMP is not set (run test/lua/test_lua.sh)")
local bin = os.getenv("VIDACTION") or "bin/vidaction"
local golden = "test/golden"

vida.set_default_context(vida.context{threads = 2, log_level = 0}) -- errors only: no warnings in the output

local passed, failed = 0, 0
local only = {}
for _, a in ipairs(arg) do
    only[a] = true
end

local function case(name, fn)
    if next(only) and not only[name] then
        return
    end
    local ok, err = pcall(fn)
    if ok then
        passed = passed + 1
        print("ok   test_lua__" .. name)
    else
        failed = failed + 1
        print("FAIL test_lua__" .. name)
        for line in tostring(err):gmatch("[^\n]+") do
            print("    " .. line)
        end
    end
end

local function check(cond, msg, ...)
    if not cond then
        error(string.format(msg or "check failed", ...), 2)
    end
end

local function sh(cmd)
    local ok, how, code = os.execute(cmd)
    if type(ok) == "number" then -- Lua 5.1 semantics: the status
        return ok == 0
    end
    return ok == true and how == "exit" and code == 0
end

local function readfile(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

-- The error a call raises (a vida.Error), failing when it raises none.
local function raises(fn, ...)
    local ok, err = pcall(fn, ...)
    check(not ok, "no error raised")
    check(vida.is_error(err), "raised %s, not a vida.Error", tostring(err))
    return err
end

-- ---- the fixture generator of test/golden/README.md -----------------------------

local band, bxor, rshift, lshift, tobit = bit.band, bit.bxor, bit.rshift, bit.lshift, bit.tobit

-- a * b mod 2^32 for int32 a, b, in 16-bit halves so every product stays exact in a double
local function mul32(a, b)
    local alo, blo = band(a, 0xffff), band(b, 0xffff)
    return tobit(alo * blo + lshift(alo * rshift(b, 16) + rshift(a, 16) * blo, 16))
end

local function fnv1a32(name)
    local h = tobit(2166136261)
    for i = 1, #name do
        h = mul32(bxor(h, name:byte(i)), 16777619)
    end
    return h
end

local function lowbias32(x)
    x = bxor(x, rshift(x, 16))
    x = mul32(x, 0x7feb352d)
    x = bxor(x, rshift(x, 15))
    x = mul32(x, tobit(0x846ca68b))
    return bxor(x, rshift(x, 16))
end

local f32 = ffi.new("float[1]")
local function to_f32(x)
    f32[0] = x
    return f32[0]
end

-- element j of a generated tensor = u_j(name) * s(shape), into a new float array
local function generate(name, shape)
    local n, fan_in = 1, 1
    for i = 1, #shape do
        n = n * shape[i]
        if i > 1 then
            fan_in = fan_in * shape[i]
        end
    end
    local s = #shape >= 2 and to_f32(math.sqrt(3.0 / fan_in)) or to_f32(0.1)
    local out = ffi.new("float[?]", n)
    local acc, g = fnv1a32(name), tobit(0x9E3779B9)
    for j = 0, n - 1 do
        local h = lowbias32(acc)
        out[j] = (rshift(h, 8) - 8388608) * 2 ^ -23 * s -- exact u, then one rounding: a float multiply
        acc = tobit(acc + g)
    end
    return out, n
end

local function bits(x)
    f32[0] = x
    return tonumber(ffi.cast("uint32_t *", f32)[0])
end

-- The converter's model file, rebuilt byte for byte from NAME.header.json and the fixture.
local function rebuild_golden(name, path)
    local header = readfile(golden .. "/" .. name .. ".header.json")
    local fx = vida.read_tensors(golden .. "/" .. name .. ".fixture.safetensors")
    local stored = {}
    for _, n in ipairs(fx:names()) do
        stored[n] = true
    end
    local out = assert(io.open(path, "wb"))
    local len = #header
    local le = {}
    for i = 1, 8 do
        le[i] = string.char(len % 256)
        len = math.floor(len / 256)
    end
    out:write(table.concat(le), header)
    local pos, count = 0, 0
    local pattern = '"([^"]+)":{"dtype":"(%w+)","shape":%[([%d,]*)%],"data_offsets":%[(%d+),(%d+)%]}'
    for tname, dtype, dims, b, e in header:gmatch(pattern) do
        b, e = tonumber(b), tonumber(e)
        check(b == pos, "%s: data starts at %d, expected %d", tname, b, pos)
        local bytes
        if stored[tname] then
            local t = fx:get(tname)
            bytes = ffi.string(t.data, t:nbytes())
        else
            check(dtype == "F32", "%s: a generated tensor of dtype %s", tname, dtype)
            local shape = {}
            for d in dims:gmatch("%d+") do
                shape[#shape + 1] = tonumber(d)
            end
            local data, n = generate(tname, shape)
            bytes = ffi.string(data, 4 * n)
        end
        check(#bytes == e - b, "%s: %d bytes, header says %d", tname, #bytes, e - b)
        out:write(bytes)
        pos, count = e, count + 1
    end
    out:close()
    check(count > 100, "only %d tensors found in the header", count)
    return fx
end

local function rel_err(a, b, n)
    local d, m = 0, 0
    for i = 0, n - 1 do
        d = math.max(d, math.abs(a[i] - b[i]))
        m = math.max(m, math.abs(b[i]))
    end
    return d / m
end

-- A small network for the cases that only need one that runs fast.
local function tiny(classes, extra)
    local o = {arch = "r2plus1d", depth = 10, width = 0.125, num_classes = classes or 3}
    for k, v in pairs(extra or {}) do
        o[k] = v
    end
    return vida.Model.create(o)
end

-- Deterministic clips [n, 3, t, s, s]: sin of the index, a phase per sample.
local function clips(n, t, s)
    local x = vida.tensor(nil, {n, 3, t, s, s})
    local per = 3 * t * s * s
    for i = 0, x.n - 1 do
        local k = math.floor(i / per)
        x.data[i] = math.sin(0.05 * (i % per) * (k + 1) + k)
    end
    return x
end

local video = tmp .. "/testsrc.mp4"
local function make_video()
    if not io.open(video, "rb") then
        check(sh("ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=size=160x120:rate=25 -t 2 " ..
                 "-pix_fmt yuv420p -y '" .. video .. "'"), "ffmpeg could not make the test video")
    end
    return video
end

-- ---- cases ---------------------------------------------------------------------

case("version_and_features", function()
    local s, n = vida.version()
    check(s:match("^%d+%.%d+%.%d+$"), "version string %q", s)
    check(n == vida.header_version, "library %d, headers %d", n, vida.header_version)
    local major, minor, patch = s:match("^(%d+)%.(%d+)%.(%d+)$")
    check(n == major * 10000 + minor * 100 + patch, "%d vs %s", n, s)
    local set, line = vida.features()
    check(set.cpu and line:match("^cpu"), "features %q", line)
    check(set.ffmpeg, "ffmpeg missing from %q", line)
end)

case("cdef_functions_resolve", function()
    local src = require("vidaction_cdef")
    local n = 0
    for name in src:gmatch("\n[^\n(]-([%w_]+)%(") do
        if name:match("^vida_") then
            local ok, err = pcall(function() return vida.C[name] end)
            check(ok, "%s is declared but not in %s: %s", name, vida.library_path, tostring(err))
            n = n + 1
        end
    end
    check(n >= 100, "only %d prototypes found", n)
end)

-- Every struct of the cdef has the C compiler's size, alignment and member offsets.
case("cdef_struct_layout_matches_c", function()
    local src = require("vidaction_cdef")
    local lines = {"#include <stdio.h>", "#include <stddef.h>", '#include "vidaction.h"', "int main(void) {"}
    local expect = {}
    for name, body in src:gmatch("typedef struct ([%w_]+) {\n(.-)\n}") do
        lines[#lines + 1] = string.format('printf("%s %%zu %%zu\\n", sizeof(%s), _Alignof(%s));',
                                          name, name, name)
        expect[#expect + 1] = {name, ffi.sizeof(name), ffi.alignof(name)}
        for member in body:gmatch("[^\n]+") do
            if not member:find("[(]") then
                local decl = member:gsub(";%s*$", ""):gsub("%b[]", "")
                local first = true
                for part in decl:gmatch("[^,]+") do
                    local field = part:match("([%w_]+)%s*$")
                    lines[#lines + 1] = string.format('printf("%s.%s %%zu\\n", offsetof(%s, %s));',
                                                      name, field, name, field)
                    expect[#expect + 1] = {name .. "." .. field, ffi.offsetof(name, field)}
                    first = false
                end
            end
        end
    end
    lines[#lines + 1] = "return 0; }"
    local f = assert(io.open(tmp .. "/layout.c", "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local cc = os.getenv("CC") or "cc"
    check(sh(cc .. " -std=c11 -Iinclude -o " .. tmp .. "/layout " .. tmp .. "/layout.c"),
          "%s could not build the layout probe", cc)
    local p = assert(io.popen(tmp .. "/layout"))
    local i = 0
    for line in p:lines() do
        i = i + 1
        local e = expect[i]
        local want = e[3] and (e[1] .. " " .. e[2] .. " " .. e[3]) or (e[1] .. " " .. e[2])
        check(line == want, "C says %q, the FFI %q", line, want)
    end
    p:close()
    check(i == #expect and i > 50, "%d lines for %d expectations", i, #expect)
end)

case("generator_check_values", function()
    check(fnv1a32("a") == tobit(0xe40c292c), "fnv1a32(a)")
    check(fnv1a32("stem.0.weight") == tobit(0x7ac2c748), "fnv1a32(stem.0.weight)")
    check(lowbias32(fnv1a32("stem.0.weight")) == tobit(0x2eb19394), "h_0")
    local w = generate("stem.0.weight", {45, 3, 1, 7, 7})
    check(bits(w[0]) == 0xbdb9d7d5 and bits(w[1]) == 0x3dbd152e and bits(w[2]) == 0x3e0a0594,
          "stem.0.weight elements %08x %08x %08x", bits(w[0]), bits(w[1]), bits(w[2]))
    local b = generate("fc.bias", {400})
    check(bits(b[0]) == 0x3d3272da and bits(b[1]) == 0xbd722baa and bits(b[2]) == 0xbca9b540, "fc.bias")
end)

local golden_path = tmp .. "/r2plus1d_18.safetensors"
local golden_fx

-- The torchvision-converted r2plus1d_18, loaded through the bindings, gives PyTorch's logits.
case("golden_forward", function()
    golden_fx = rebuild_golden("r2plus1d_18", golden_path)
    local m = vida.Model.load(golden_path)
    check(m:meta("source") == "torchvision r2plus1d_18 via vidaction.convert", "metadata source")
    check(m:num_classes() == 400 and m:num_params() == 31505325, "classes %d, params %d",
          m:num_classes(), m:num_params())
    local input, ref = golden_fx:get("input"), golden_fx:get("logits")
    check(#input.shape == 5 and input.shape[1] == 2, "fixture input shape")
    local logits, feats = m:forward(input, {features = true})
    check(logits.shape[1] == 2 and logits.shape[2] == 400, "logits shape")
    local e = rel_err(logits.data, ref.data, ref.n)
    print(string.format("    r2plus1d_18 logits: max|diff| / max|ref| = %.2e", e))
    check(e <= 1e-4, "logits relative error %.3e > 1e-4", e)
    local ef = rel_err(feats.data, golden_fx:get("features").data, feats.n)
    check(ef <= 1e-4, "features relative error %.3e > 1e-4", ef)
    -- the same through the other input forms: flat table + shape, nested table
    local l2 = m:forward(input:flat(), input.shape)
    local l3 = m:forward(input:totable())
    for i = 0, logits.n - 1 do
        check(l2.data[i] == logits.data[i] and l3.data[i] == logits.data[i], "input forms differ at %d", i)
    end
    m:free()
end)

-- ... and exactly (bitwise) the logits `vidaction forward` writes for the same file and input.
case("golden_forward_equals_cli", function()
    if not golden_fx then
        golden_fx = rebuild_golden("r2plus1d_18", golden_path)
    end
    local input = golden_fx:get("input")
    vida.write_tensors(tmp .. "/in.safetensors", {{"input", input}})
    check(sh(string.format("%s forward '%s' '%s/in.safetensors' -o '%s/out.safetensors' --threads 2",
                           bin, golden_path, tmp, tmp)), "vidaction forward failed")
    local cli = vida.read_tensors(tmp .. "/out.safetensors"):get("logits")
    local m = vida.Model.load(golden_path)
    local logits = m:forward(input)
    check(cli.n == logits.n, "%d vs %d logits", cli.n, logits.n)
    local a, b = ffi.cast("uint32_t *", logits.data), ffi.cast("uint32_t *", cli.data)
    for i = 0, cli.n - 1 do
        check(a[i] == b[i], "logit %d: %.9g here, %.9g from the program", i, logits.data[i], cli.data[i])
    end
end)

case("classify_generated_video", function()
    make_video()
    local names = {"rolling dice", "juggling", "tai chi"}
    local m = tiny(3, {labels = names, meta = {clip_frames = 8, crop = 64, short_side = 72}})
    local path = tmp .. "/tiny.safetensors"
    m:save(path)
    local res, nv = m:classify(video, 4, 2)
    check(nv == 4, "%d views", nv)
    check(#res == 2, "%d results for top 2", #res)
    local sum = 0
    for i, r in ipairs(res) do
        check(r.label == names[r.class + 1], "result %d: label %s for class %d", i, r.label, r.class)
        check(r.score > 0 and r.score <= 1, "score %g", r.score)
        check(i == 1 or res[i - 1].score >= r.score, "not sorted")
        sum = sum + r.score
    end
    check(sum <= 1 + 1e-9, "scores sum to %g", sum)
    -- all classes: the scores are a distribution
    local all = m:classify(video, 4, 10)
    check(#all == 3, "top clamped to the classes: %d", #all)
    sum = 0
    for _, r in ipairs(all) do
        sum = sum + r.score
    end
    check(math.abs(sum - 1) < 1e-6, "all scores sum to %.9f", sum)
    -- the program classifies the saved model the same way
    local p = assert(io.popen(string.format("%s classify '%s' '%s' --clips 4 --top 3 --json", bin, path, video)))
    local out = p:read("*a")
    p:close()
    local i = 0
    for class, name, score in out:gmatch('{"class":(%d+),"name":"([^"]*)","p":([%d.]+)}') do
        i = i + 1
        check(all[i].class == tonumber(class) and all[i].label == name, "rank %d: %s/%s here, %s/%s in the program",
              i, all[i].class, all[i].label, class, name)
        check(math.abs(all[i].score - tonumber(score)) <= 6e-7, "rank %d: score %.7f here, %s in the program",
              i, all[i].score, score)
    end
    check(i == 3, "the program gave %d results: %s", i, out)
end)

case("three_train_steps_reduce_the_loss", function()
    local m = tiny(3)
    local opt = vida.SGD(m, {lr = 0.01, momentum = 0.9, weight_decay = 1e-4})
    local x, labels = clips(4, 4, 32), {0, 1, 2, 0}
    local losses = {}
    for s = 1, 3 do
        losses[s] = m:train_step(opt, x, labels)
    end
    print(string.format("    losses %.4f %.4f %.4f", losses[1], losses[2], losses[3]))
    check(losses[1] == losses[1] and losses[1] > 0, "loss %g", losses[1])
    check(losses[2] < losses[1] and losses[3] < losses[2], "losses %g %g %g", losses[1], losses[2], losses[3])
    check(opt:stats().steps == 3, "optimizer steps %d", opt:stats().steps)
    -- soft targets (rows) go through too
    local l = m:train_step(opt, x, {{1, 0, 0}, {0, 0.5, 0.5}, {0, 0, 1}, {1, 0, 0}})
    check(l == l and l > 0, "soft-target loss %g", l)
end)

-- forward + vida.loss + backward + Optimizer:step, the pieces of a step, by hand.
case("loss_backward_step_by_hand", function()
    local loss, d = vida.loss("softmax_ce", {{0, 0, 0}, {math.log(2), 0, 0}}, {0, 1})
    local want = (math.log(3) + math.log(4)) / 2 -- -log(1/3), -log(1/(2+1+1))
    check(math.abs(loss - want) < 1e-6, "loss %.8f, want %.8f", loss, want)
    check(math.abs(d.data[0] - (1 / 3 - 1) / 2) < 1e-6, "dlogits[0] %g", d.data[0])
    local m = tiny(3)
    local opt = vida.SGD(m, {lr = 0.01})
    local x = clips(2, 4, 32)
    m:train()
    local losses = {}
    for s = 1, 3 do
        m:zero_grad()
        local logits = m:forward(x)
        local l, dl = vida.loss("softmax_ce", logits, {0, 2})
        m:backward(dl)
        opt:step()
        losses[s] = l
    end
    check(losses[3] < losses[1], "losses %g %g %g", losses[1], losses[2], losses[3])
    local g = m:get_tensor("fc.bias", true)
    check(g.n == 3, "fc.bias gradient of %d elements", g.n)
end)

case("save_load_roundtrip", function()
    local m = tiny(3, {labels = {'say "hi"', "über", "a\\b"}})
    local path = tmp .. "/rt.safetensors"
    m:save(path)
    local m2 = vida.Model.load(path)
    local labels = m2:labels()
    check(labels and labels[1] == 'say "hi"' and labels[2] == "über" and labels[3] == "a\\b", "labels %s",
          m2:meta("labels"))
    local x = clips(1, 4, 32)
    local a, b = m:forward(x), m2:forward(x)
    for i = 0, a.n - 1 do
        check(a.data[i] == b.data[i], "logit %d differs after save/load", i)
    end
    local w = m2:get_tensor("fc.weight")
    check(w.shape[1] == 3 and #w.shape == 2, "fc.weight shape")
    w.data[0] = 0.5
    m2:set_tensor("fc.weight", w)
    check(m2:get_tensor("fc.weight").data[0] == 0.5, "set_tensor")
    check(m2:params().num_classes == 3 and m2:params().depth == 10, "params")
end)

case("missing_file_names_it", function()
    local path = tmp .. "/no-such-dir/none.safetensors"
    local err = raises(vida.Model.load, path)
    check(err.code == vida.C.VIDA_EIO and err.name == "EIO", "code %d %s", err.code, err.name)
    check(err.message:find(path, 1, true), "message %q does not name the file", err.message)
    check(tostring(err):find(path, 1, true) and tostring(err):find("EIO", 1, true), "tostring %q", tostring(err))
    err = raises(vida.read_tensors, path)
    check(err.message:find(path, 1, true), "read_tensors: %q", err.message)
    local m = tiny(3)
    err = raises(m.classify, m, tmp .. "/none.mp4")
    check(err.message:find("none.mp4", 1, true), "classify: %q", err.message)
end)

case("bad_arguments_raise", function()
    local err = raises(vida.Model.create, {arch = "r2plus1d", depth = 19})
    check(err.code == vida.C.VIDA_EUNSUPPORTED, "depth 19: %s", tostring(err))
    err = raises(vida.Model.create, {arch = "nonet"})
    check(err.code == vida.C.VIDA_EINVAL and err.message:find("arch"), "%s", tostring(err))
    err = raises(vida.Model.create, {colour = "red"})
    check(err.message:find("colour"), "%s", tostring(err))
    local m = tiny(3)
    err = raises(m.forward, m, vida.tensor(nil, {1, 3, 4, 8, 8}))
    check(err.code == vida.C.VIDA_EINVAL and err.message:find("H, W >= 16", 1, true), "%s", tostring(err))
    err = raises(m.forward, m, {1, 2, 3}, {1, 3})
    check(err.message:find("[N, 3, T, H, W]", 1, true), "%s", tostring(err))
    err = raises(m.get_tensor, m, "no.such")
    check(err.message:find("no.such", 1, true), "%s", tostring(err))
    local opt = vida.SGD(m)
    err = raises(m.train_step, m, opt, clips(2, 4, 32), {0, 7})
    check(err.message:find("label 2", 1, true), "%s", tostring(err))
    err = raises(vida.SGD, m, {lr = -1})
    check(err.code == vida.C.VIDA_EINVAL, "%s", tostring(err))
end)

-- free() is idempotent, a freed handle raises, and the GC frees in any order.
case("handles_free_and_gc", function()
    local m = tiny(3)
    local opt = vida.SGD(m)
    m:free()
    m:free()
    local err = raises(m.forward, m, clips(1, 4, 32))
    check(err.code == vida.C.VIDA_ESTATE and err.message:find("freed"), "%s", tostring(err))
    err = raises(opt.step, opt) -- its model took it along
    check(err.code == vida.C.VIDA_ESTATE, "%s", tostring(err))
    opt:free()
    opt:free()
    for i = 1, 30 do -- model and optimizer left to the GC together, or freed in either order
        local mm = tiny(2)
        local o = vida.SGD(mm)
        if i % 3 == 1 then
            o:free()
        elseif i % 3 == 2 then
            mm:free()
        end
    end
    collectgarbage()
    collectgarbage()
    local tf = vida.read_tensors(golden .. "/r2plus1d_18.fixture.safetensors")
    local t = tf:get("input")
    tf:free()
    tf:free()
    check(t.n == 2 * 3 * 4 * 32 * 32 and t.data[0] == t.data[0], "copied tensor outlives its file")
end)

local function rss_kb()
    local s = readfile("/proc/self/status")
    return tonumber(s:match("VmRSS:%s*(%d+)"))
end

case("create_free_cycles_no_growth", function()
    local function cycles(n)
        for i = 1, n do
            local m = vida.Model.create{arch = "r2plus1d", depth = 10, width = 0.0625, num_classes = 2}
            if i % 2 == 0 then
                m:free()
            end
            if i % 100 == 0 then
                collectgarbage()
            end
        end
        collectgarbage()
        collectgarbage()
    end
    cycles(300)
    local before = rss_kb()
    cycles(2000)
    local growth = rss_kb() - before
    print(string.format("    RSS growth over 2000 create/free: %d KiB", growth))
    check(growth < 8192, "RSS grew by %d KiB", growth)
end)

case("video_and_loader", function()
    make_video()
    local v = vida.Video(video)
    local info = v:info()
    check(info.n_frames == 50 and info.width == 160 and info.height == 120 and info.codec == "h264",
          "info: %d frames %dx%d %s", info.n_frames, info.width, info.height, info.codec)
    local frames = v:read({0, 49, 0}, {short_side = 60})
    check(frames.dtype == "u8" and frames.shape[1] == 3 and frames.shape[2] == 60 and frames.shape[3] == 80,
          "frames shape %s", table.concat(frames.shape, "x"))
    local per = 60 * 80 * 3
    for i = 0, per - 1 do
        check(frames.data[i] == frames.data[2 * per + i], "frame 0 read twice differs at %d", i)
    end
    v:free()
    local f = assert(io.open(tmp .. "/manifest.tsv", "w"))
    f:write("testsrc.mp4\tjuggling\n", "testsrc.mp4\ttai chi\n", "missing.mp4\tjuggling\n")
    f:close()
    local ds = vida.Dataset(tmp .. "/manifest.tsv")
    check(ds:size() == 2 and ds:n_classes() == 2, "dataset: %d videos, %d classes", ds:size(), ds:n_classes())
    check(#ds:problems() == 1 and ds:problems()[1]:find("missing.mp4", 1, true), "problems")
    local labels = ds:labels()
    check(labels[1] == "juggling" and labels[2] == "tai chi", "labels %s", table.concat(labels, ","))
    local s = vida.Sampler{frames = 4, crop = 32, short_side_min = 36, short_side_max = 36, output = "f32"}
    local loader = vida.Loader(ds, s, {batch = 2, epochs = 1})
    local m = tiny(2)
    local opt = vida.SGD(m)
    local b = loader:next()
    check(b and b.n == 2 and b.views == 1, "first batch")
    check(b:clips().shape[1] == 2 and b:clips().shape[3] == 4 and b:targets().shape[2] == 2, "batch shapes")
    local loss = m:train_step(opt, b)
    check(loss == loss and loss > 0, "loss %g", loss)
    check(loader:next() == nil, "one epoch of one batch")
    local err = raises(b.clips, b)
    check(err.code == vida.C.VIDA_ESTATE, "%s", tostring(err))
end)

-- vida.synth writes what `vidaction synth` writes, byte for byte; the vocabulary and its pairs.
case("synth", function()
    local a, b = tmp .. "/synth_lua", tmp .. "/synth_cli"
    vida.synth(a, "target-ss", {videos = 4, verbs = 2, width = 48, height = 32, seed = 4,
                               min_seconds = 1, max_seconds = 1.5})
    check(sh(string.format("%s synth %s --preset target-ss --videos 4 --verbs 2 --size 48x32 " ..
                           "--seed 4 --seconds 1-1.5 --threads 1 >/dev/null", bin, b)), "vidaction synth failed")
    for _, name in ipairs({"train.tsv", "test.tsv", "truth.jsonl", "videos/000003.mp4"}) do
        check(readfile(a .. "/" .. name) == readfile(b .. "/" .. name), name .. " differs")
    end
    local verbs = vida.synth_verbs()
    check(#verbs == 12 and verbs[1] == "move left", "verbs")
    check(vida.synth_nouns()[12] == "ell", "nouns")
    check(vida.synth_verb_reverse(6) == 7 and vida.synth_verb_reverse(10) == nil, "reverse")
    local ok, err = pcall(vida.synth, a, "nonsense")
    check(not ok and tostring(err):find("preset"), "a bad preset: " .. tostring(err))
    ok, err = pcall(vida.synth, a, "target-k", {width = 81})
    check(not ok and tostring(err):find("width"), "an odd width: " .. tostring(err))
end)

case("cdef_check_passes", function()
    local errfile = tmp .. "/check.err"
    check(sh("sh bindings/lua/gen-cdef.sh --check 2>'" .. errfile .. "'"), "%s", readfile(errfile))
end)

-- A prototype added to the headers makes the check fail, naming it; regenerating picks it up.
case("cdef_stale_detected", function()
    local inc = tmp .. "/include"
    check(sh("cp -R include '" .. inc .. "'"), "copy of include/")
    local h = readfile(inc .. "/vidaction.h")
    local n
    h, n = h:gsub("\n#endif%s*$", "\nVIDA_API int vida_lua_stale_probe(const char *x);\n\n#endif\n")
    check(n == 1, "no final #endif in vidaction.h")
    local f = assert(io.open(inc .. "/vidaction.h", "w"))
    f:write(h)
    f:close()
    local errfile = tmp .. "/stale.err"
    check(not sh("sh bindings/lua/gen-cdef.sh --check --include '" .. inc .. "' 2>'" .. errfile .. "'"),
          "the check passed on changed headers")
    local err = readfile(errfile)
    check(err:find("stale") and err:find("vida_lua_stale_probe", 1, true), "message: %s", err)
    local out = tmp .. "/cdef.lua"
    check(sh("sh bindings/lua/gen-cdef.sh --include '" .. inc .. "' --output '" .. out .. "'"), "regenerate")
    check(readfile(out):find("\nint vida_lua_stale_probe%(const char %*x%);\n"), "prototype missing from %s", out)
    check(sh("sh bindings/lua/gen-cdef.sh --check --include '" .. inc .. "' --output '" .. out .. "'"),
          "fresh output reported stale")
end)

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
