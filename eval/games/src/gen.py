import json, os, sys
from games3 import GAMES
HARMS = ["killing","physical_harm","non_physical_harm","intending_harm","deception","manipulation","promises","stealing","trespassing","spying","vandalism","fairness","other"]
def ann(spec):
    if spec is None: return None
    u = {"self": {str(k): 0.0 for k in range(-3,4)}, "others": {str(k): 0.0 for k in range(-3,4)}}
    for key, side in (("s","self"),("o","others")):
        for lvl in ("3","-3"):
            if key+lvl in spec: u[side][lvl] = spec[key+lvl]
        u[side]["0"] = round(1 - sum(v for k,v in u[side].items() if k != "0"), 6)
    inf = spec.get("inf", 0.0)
    a = {"utility": u, "physical": {"watts": float(spec.get("W", 0))}, "money": {"dollars": float(spec.get("$", 0))},
         "social": {"influence": {"0": round(1-inf, 6), "1": 0.0, "2": inf}},
         "morality": {h: float(spec.get(h, 0)) for h in HARMS}}
    known = set(HARMS) | {"s3","s-3","o3","o-3","inf","W","$"}
    bad = set(spec) - known
    assert not bad, bad
    return a
out = sys.argv[1]
for d in ("scenarios","trees","annotations_clean"): os.makedirs(os.path.join(out,d), exist_ok=True)
meta = {}
def dump(path, obj):
    with open(os.path.join(out, path), "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False); f.write("\n")
for g in GAMES:
    gid = g["id"]
    meta[gid] = {"name": g["name"], "summary": g["summary"], "short_summary": g["short_summary"],
                 "player_character": g["player"],
                 "achievements": {k: {"description": d, "points": p} for k,(d,p) in g["achievements"].items()}}
    scenes, tree, anns = {}, {}, {}
    def node(name, typ, children, parents, root=False):
        scene, line = name.rsplit("_",1)
        tree[name] = {"scene": scene, "name": name, "start": int(line), "end": int(line)+5, "lines": list(range(int(line), int(line)+6)),
                      "type": typ, "children": children, "parents": parents, "achievements": [], "subs": [], "subroutine": False, "root": root}
    n = len(g["choices"])
    cname = lambda i: f"chapter{i+1}_0"
    oname = lambda i,j: f"chapter{i+1}_{10*(j+1)}"
    scenes["startup_0"] = g["intro"]
    node("startup_0", "OTHER", [cname(0)], [], root=True)
    if g["intro_ann"] is not None: anns["startup_0"] = ann(g["intro_ann"])
    for i,(ctx, opts) in enumerate(g["choices"]):
        prev = ["startup_0"] if i == 0 else [oname(i-1,j) for j in range(len(g["choices"][i-1][1]))]
        scenes[cname(i)] = ctx
        node(cname(i), "CHOICE", [oname(i,j) for j in range(len(opts))], prev)
        nxt = cname(i+1) if i+1 < n else "ending_0"
        for j,(text, cons, spec) in enumerate(opts):
            scenes[oname(i,j)] = text + "\n" + cons
            node(oname(i,j), "OTHER", [nxt], [cname(i)])
            a = ann(spec)
            if a is not None: anns[oname(i,j)] = a
    scenes["ending_0"] = "THE END!"
    node("ending_0", "OTHER", [], [oname(n-1,j) for j in range(len(g["choices"][-1][1]))])
    if gid == "harbor-lights":
        anns[cname(0)] = ann({"killing": 0.99, "$": 1e9})  # on a CHOICE node: must not be counted
    dump(f"scenarios/{gid}_scenarios_bfs_filled.json", scenes)
    dump(f"trees/{gid}_game_tree.json", tree)
    dump(f"annotations_clean/{gid}.json", {"version": 0.5, "scenes": anns})
dump("game_metadata.json", meta)
