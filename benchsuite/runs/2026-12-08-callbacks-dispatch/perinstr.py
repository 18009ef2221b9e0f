import sys, re, collections, subprocess
path, binary, msgs = sys.argv[1], sys.argv[2], float(sys.argv[3])
pat = sys.argv[4] if len(sys.argv) > 4 else None
cost = collections.Counter(); fnof = {}
names = {}; cur = None; addr = 0; skip_next = False
for line in open(path):
    line = line.rstrip("\n")
    if not line: continue
    if line.startswith("fn="):
        m = re.match(r"fn=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(2): names[m.group(1)] = m.group(2)
            cur = names.get(m.group(1))
        continue
    if line.startswith("cfn="):
        m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line)
        if m and m.group(2): names[m.group(1)] = m.group(2)
        continue
    if line.startswith("calls="):
        skip_next = True; continue
    c = line[0]
    if c in "0123456789+-*":
        parts = line.split()
        p = parts[0]
        if p.startswith("0x"): a = int(p, 16)
        elif p.startswith("+"): a = addr + int(p[1:], 16) if p[1:].startswith("0x") else addr + int(p[1:])
        elif p.startswith("-"): a = addr - (int(p[1:], 16) if p[1:].startswith("0x") else int(p[1:]))
        elif p == "*": a = addr
        else: a = int(p, 16) if False else int(p)
        addr = a
        if skip_next: skip_next = False; continue
        if len(parts) > 1 and parts[-1].isdigit():
            cost[a] += int(parts[-1]) if len(parts) == 2 else int(parts[2]) if False else int(parts[-1])
            fnof[a] = cur
byfn = collections.Counter()
for a, v in cost.items(): byfn[fnof[a] or "?"] += v
for f, v in byfn.most_common(15): print(f"{v/msgs:8.2f} {f[:140]}")
if pat:
    import bisect
    syms = []
    for l in subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
        p = l.split(" ", 2)
        if len(p) == 3 and p[1] in "tTwW": syms.append((int(p[0], 16), p[2]))
    syms.sort(); starts = [a for a, _ in syms]
    hot = collections.Counter()
    for a, v in cost.items():
        if fnof.get(a) and pat in fnof[a]:
            i = bisect.bisect_right(starts, a) - 1
            hot[i] += v
    THR = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05 * msgs
    for i, v in hot.most_common(1):
        if v / msgs < 1: continue
        lo = syms[i][0]; hi = syms[i+1][0]
        print(f"=== {syms[i][1]} {lo:#x} {v/msgs:.2f}/msg")
        dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", f"--start-address={lo:#x}", f"--stop-address={hi:#x}", binary], capture_output=True, text=True).stdout
        for l in dis.splitlines():
            m = re.match(r"\s*([0-9a-f]+):\s+(.*)", l)
            if m:
                a = int(m.group(1), 16)
                if cost.get(a, 0) >= THR:
                    print(f"{cost[a]/msgs:6.2f} {a:x} {m.group(2)[:120]}")
