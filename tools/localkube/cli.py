"""localkube: a real Kubernetes on this machine from upstream parts (docs/localkube.md).

  build [--level api|node]          build or find the cached binaries; prints the bin dir
  up --level api|node [--name N]    start and wait; last stdout line: the kubeconfig path
  kubeconfig [--name N]             print the kubeconfig path
  status [--name N]                 JSON: level, components alive, readyz
  down [--name N]                   stop and remove everything `up` started
  image build --tag NAME:TAG [--build-arg K=V] CONTEXT_DIR [--file F]
  image import NAME:TAG [--name N]  import a built image into the running node's containerd
  image base                        build (once) the local base image; prints its name
  go-build MODULE VERSION PACKAGE BINARY [--tags T]
                                    build a command of module@version once into the cache; prints its path
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localkube.util import LocalkubeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localkube", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or find cached) binaries; print the bin dir")
    b.add_argument("--level", choices=("api", "node"), default="api")
    u = sub.add_parser("up", help="start a cluster; print its kubeconfig path last")
    u.add_argument("--level", choices=("api", "node"), required=True)
    for name in ("up", "kubeconfig", "status", "down"):
        p = u if name == "up" else sub.add_parser(name)
        p.add_argument("--name", default="dsa")
    img = sub.add_parser("image", help="build local images and import them into the node")
    isub = img.add_subparsers(dest="image_cmd", required=True)
    ib = isub.add_parser("build")
    ib.add_argument("--tag", required=True)
    ib.add_argument("--build-arg", action="append", default=[])
    ib.add_argument("--file", "-f", type=Path)
    ib.add_argument("context", type=Path)
    ii = isub.add_parser("import")
    ii.add_argument("image")
    ii.add_argument("--name", default="dsa")
    isub.add_parser("base")
    gi = sub.add_parser("go-build", help="build a Go module's command once into the cache")
    gi.add_argument("module")
    gi.add_argument("version")
    gi.add_argument("package", help='directory of the command in the module, "." for its root')
    gi.add_argument("binary")
    gi.add_argument("--tags", default="")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "build":
            from localkube import build
            print(build.build(args.level))
        elif args.cmd == "up":
            from localkube.cluster import Cluster
            print(Cluster(args.name).up(args.level))
        elif args.cmd == "kubeconfig":
            from localkube.cluster import Cluster
            c = Cluster(args.name)
            if not c.kubeconfig.exists():
                raise LocalkubeError(f"{args.name}: not up (no {c.kubeconfig}); run `scripts/localkube up --level api`")
            print(c.kubeconfig)
        elif args.cmd == "status":
            from localkube.cluster import Cluster
            st = Cluster(args.name).status()
            print(json.dumps(st, indent=2, sort_keys=True))
            return 0 if st.get("up") else 3
        elif args.cmd == "down":
            from localkube.cluster import Cluster
            left = Cluster(args.name).down()
            if left:
                raise LocalkubeError("left over after down: " + "; ".join(left))
        elif args.cmd == "go-build":
            from localkube import build
            print(build.go_build(args.module, args.version, args.package, args.binary,
                                   tags=tuple(t for t in args.tags.split(",") if t)))
        elif args.cmd == "image":
            from localkube import images
            if args.image_cmd == "build":
                print(images.build_image(args.tag, args.context, args.file, args.build_arg))
            elif args.image_cmd == "base":
                print(images.ensure_base())
            else:
                from localkube.cluster import Cluster
                c = Cluster(args.name)
                st = c.load()
                if st.get("level") != "node" or not c.running().get("containerd"):
                    raise LocalkubeError(f"{args.name}: no running node (start it: scripts/localkube up --level node)")
                name = images.qualify(args.image)
                images.ctr_import(name, Path(st["containerd_sock"]), c.dir / "tmp")
                print(name)
    except LocalkubeError as exc:
        print(f"localkube: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("localkube: interrupted", file=sys.stderr)
        return 130
    return 0
