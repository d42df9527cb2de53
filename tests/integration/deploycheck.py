#!/usr/bin/python3
"""Assertions of test-deploy.sh on a deploy/ tree: the Terraform (as parsed by
hcl.js), cloud-init.yaml (rendered the README's way) and the README.
Usage: deploycheck.py DEPLOY_DIR HCL_JSON SCRATCH; prints `ok - ...` /
`not ok - ...` lines, exits 1 when any check failed."""
import base64
import json
import os
import re
import subprocess
import sys

import yaml

deploy, hcl_json, scratch = sys.argv[1:4]
tfdir = os.path.join(deploy, "terraform")
failed = 0


def check(desc, cond, detail=""):
    global failed
    if cond:
        print(f"ok - {desc}")
    else:
        failed += 1
        print(f"not ok - {desc}" + (f": {detail}" if detail else ""))


def strings(node):
    """Every string in a parsed HCL document (expressions are "${...}")."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def var_ref(value):
    m = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", value) if isinstance(value, str) else None
    return m.group(1) if m else None


# ---- Terraform --------------------------------------------------------------
parsed = json.load(open(hcl_json))
tf_files = sorted(f for f in os.listdir(tfdir) if f.endswith(".tf"))
docs = {}
for f in tf_files:
    r = parsed.get(os.path.join(tfdir, f))
    check(f"{f} parses as HCL2", r is not None and r["error"] is None, r and r["error"])
    check(f"{f} is in terraform fmt layout", r is not None and not r["fmt"], r and "; ".join(r["fmt"]))
    docs[f] = (r or {}).get("json") or {}

resources, variables, locals_, outputs, providers, terraform = {}, {}, {}, {}, {}, []
for d in docs.values():
    for rtype, byname in d.get("resource", {}).items():
        for name, blocks in byname.items():
            resources[f"{rtype}.{name}"] = blocks[0]
    for name, blocks in d.get("variable", {}).items():
        variables[name] = blocks[0]
    for block in d.get("locals", []):
        locals_.update(block)
    for name, blocks in d.get("output", {}).items():
        outputs[name] = blocks[0]
    providers.update(d.get("provider", {}))
    terraform += d.get("terraform", [])

insts = [k for k in resources if k.startswith("google_compute_instance.")]
check("exactly one google_compute_instance", len(insts) == 1, str(insts))
inst = resources[insts[0]] if insts else {}

amf = (inst.get("advanced_machine_features") or [{}])[0]
check("advanced_machine_features.enable_nested_virtualization = true",
      amf.get("enable_nested_virtualization") is True, repr(amf))

# Nested virtualization on Compute Engine needs Intel; these families have
# Intel CPUs and take the pd-balanced boot disk used here.
INTEL = {"n1", "n2", "c2", "c3", "m1", "m2", "m3"}
mt = inst.get("machine_type", "")
mtvar = var_ref(mt)
if mtvar:
    v = variables.get(mtvar, {})
    fam = str(v.get("default", "")).split("-")[0]
    check(f"machine type default {v.get('default')} is an Intel family", fam in INTEL)
    allowed = set()
    for val in v.get("validation", []):
        m = re.search(r"\^\(([a-z0-9|]+)\)-", val.get("condition", ""))
        if m:
            allowed |= set(m.group(1).split("|"))
    check(f"var.{mtvar} validation admits only Intel families ({sorted(allowed)})",
          allowed and allowed <= INTEL)
else:
    check(f"machine type {mt} is an Intel family", mt.split("-")[0] in INTEL)
mcp = inst.get("min_cpu_platform")
mcp_val = variables.get(var_ref(mcp), {}).get("default") if var_ref(mcp) else mcp
check(f"min_cpu_platform is Intel or unset ({mcp_val!r})", mcp_val is None or str(mcp_val).startswith("Intel "))


def sized_by_number_var(what, value):
    name = var_ref(value)
    check(f"{what} size comes from a declared number variable ({value})",
          name in variables and variables[name].get("type") == "${number}")


boot = ((inst.get("boot_disk") or [{}])[0].get("initialize_params") or [{}])[0]
sized_by_number_var("boot disk", boot.get("size"))
data_srcs = [a.get("source", "") for a in inst.get("attached_disk", [])]
m = re.fullmatch(r"\$\{(google_compute_disk\.[a-z0-9_]+)\.(id|self_link|name)\}", data_srcs[0]) if data_srcs else None
check(f"the store disk is an attached google_compute_disk ({data_srcs})", m and m.group(1) in resources)
if m and m.group(1) in resources:
    sized_by_number_var("store disk", resources[m.group(1)].get("size"))

cloud_init_path = os.path.join(deploy, "cloud-init.yaml")
template = open(cloud_init_path).read()
placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", template))
meta = inst.get("metadata", {})
ud = meta.get("user-data", "") if isinstance(meta, dict) else ""
m = re.match(r'\$\{templatefile\("\$\{path\.module\}/([^"]+)", \{(.*)\}\)\}$', ud, re.S)
check("metadata user-data is templatefile() of cloud-init.yaml",
      m and os.path.realpath(os.path.join(tfdir, m.group(1))) == os.path.realpath(cloud_init_path), ud[:80])
passed = set(re.findall(r"^\s*([A-Za-z0-9_]+)\s*=", m.group(2), re.M)) if m else set()
check("templatefile() passes exactly the template's variables",
      passed == placeholders, f"passed {sorted(passed)}, template uses {sorted(placeholders)}")
ss = meta.get("startup-script", "") if isinstance(meta, dict) else ""
m = re.fullmatch(r'\$\{file\("\$\{path\.module\}/([^"]+)"\)\}', ss)
check("metadata startup-script is a file of the module", m and os.path.isfile(os.path.join(tfdir, m.group(1))), ss)
if m and os.path.isfile(os.path.join(tfdir, m.group(1))):
    boot_sh = os.path.join(tfdir, m.group(1))
    for sh in ("bash", "dash"):
        r = subprocess.run([sh, "-n", boot_sh], capture_output=True, text=True)
        check(f"{m.group(1)} passes {sh} -n", r.returncode == 0, r.stderr.strip())

# References: every var/local/resource named anywhere exists, every variable is used.
everything = list(strings(list(docs.values())))
used_vars = set()
for s in everything:
    for name in re.findall(r"\bvar\.([A-Za-z0-9_]+)", s):
        used_vars.add(name)
    for name in re.findall(r"\blocal\.([A-Za-z0-9_]+)", s):
        check(f"local.{name} is defined", name in locals_)
undeclared = sorted(used_vars - set(variables))
check("every referenced variable is declared", not undeclared, f"undeclared: {undeclared}")
unused = sorted(set(variables) - used_vars)
check("every declared variable is used", not unused, f"unused: {unused}")
for oname, o in outputs.items():
    refs = set(re.findall(r"\b(google_[a-z0-9_]+\.[a-z0-9_]+)\.", o.get("value", "")))
    missing = sorted(refs - set(resources))
    check(f"output {oname} references existing resources ({sorted(refs)})", refs and not missing, f"missing {missing}")
req = [rp for t in terraform for rp in t.get("required_providers", [])]
check("required_providers pins hashicorp/google",
      any(rp.get("google", {}).get("source") == "hashicorp/google" for rp in req))
fw = [r for k, r in resources.items() if k.startswith("google_compute_firewall.")
      and "var.receiver_port" in json.dumps(r.get("allow", []))]
check("the receiver port is opened only to var.agent_cidrs",
      len(fw) == 1 and fw[0].get("source_ranges") == "${var.agent_cidrs}")


# The DR networks' ways in (docs/network.md): WireGuard over UDP from its
# variable, no rule when it is null; the published ports from theirs, none
# by default.
def firewall_using(var):
    return [(k, r) for k, r in resources.items() if k.startswith("google_compute_firewall.")
            and f"var.{var}" in json.dumps(r)]


wg = firewall_using("wireguard_port")
wg_allow = (wg[0][1].get("allow") or [{}])[0] if len(wg) == 1 else {}
check("the WireGuard port is opened over UDP from var.wireguard_port, only when set",
      len(wg) == 1 and wg_allow.get("protocol") == "udp"
      and wg_allow.get("ports") == ["${tostring(var.wireguard_port)}"]
      and "var.wireguard_port == null" in str(wg[0][1].get("count")), repr(wg))
check("the WireGuard rule admits var.wireguard_cidrs",
      len(wg) == 1 and wg[0][1].get("source_ranges") == "${var.wireguard_cidrs}")
pv = variables.get("published_ports", {})
check("no port is published by default (var.published_ports = [])", pv.get("default") == [],
      repr(pv.get("default")))
check("var.published_ports validates protocol and port", any(
    "tcp" in v.get("condition", "") and "65535" in v.get("condition", "") for v in pv.get("validation", [])))
pub = firewall_using("published_ports")
check("the published ports are opened from var.published_ports, no rule when none",
      len(pub) == 1 and "length(var.published_ports)" in str(pub[0][1].get("count"))
      and pub[0][1].get("source_ranges") == "${var.published_cidrs}"
      and "allow" in json.dumps(pub[0][1].get("dynamic", {})), repr(pub))
ud_vars = {"wireguard_port": "var.wireguard_port", "published_ports": "var.published_ports"}
for tv_name, ref in ud_vars.items():
    check(f"the user-data gets {tv_name} from {ref}", re.search(rf"\b{tv_name}\s*=[^\n]*{re.escape(ref)}", ud) is not None)

tfvars = parsed.get(os.path.join(tfdir, "terraform.tfvars.example"), {})
check("terraform.tfvars.example parses", tfvars.get("error") is None and tfvars.get("json"), tfvars.get("error"))
tv = tfvars.get("json") or {}
check("terraform.tfvars.example sets only declared variables", set(tv) <= set(variables),
      f"unknown {sorted(set(tv) - set(variables))}")
required = {n for n, v in variables.items() if "default" not in v}
check("terraform.tfvars.example sets every variable without a default", required <= set(tv),
      f"missing {sorted(required - set(tv))}")

# ---- cloud-init -------------------------------------------------------------
check("cloud-init.yaml starts with #cloud-config", template.startswith("#cloud-config\n"))
check("cloud-init.yaml has no templatefile directives (%{) Terraform would run", "%{" not in template)
readme = open(os.path.join(deploy, "README.md")).read()
m = re.search(r"envsubst '([^']*)'", readme)
listed = set(re.findall(r"\$([A-Za-z0-9_]+)", m.group(1))) if m else set()
check("README's envsubst lists exactly the template's variables", listed == placeholders,
      f"README {sorted(listed)}, template {sorted(placeholders)}")

# Render it the README's way (envsubst), with recognisable values.
env = dict(os.environ)
for name in placeholders:
    env[name] = base64.b64encode(f"<{name}>\n".encode()).decode() if name.endswith("_b64") else f"/x/{name}"
r = subprocess.run(["envsubst", " ".join("$" + n for n in sorted(listed))], input=template,
                   capture_output=True, text=True, env=env)
rendered = r.stdout
check("envsubst fills every placeholder", r.returncode == 0 and "${" not in rendered, r.stderr)
open(os.path.join(scratch, "user-data"), "w").write(rendered)
try:
    ci = yaml.safe_load(rendered)
    yaml_err = None
except yaml.YAMLError as e:
    ci, yaml_err = None, str(e)
check("the rendered user-data is valid YAML (a mapping)", isinstance(ci, dict), yaml_err)
ci = ci if isinstance(ci, dict) else {}
pkgs = set(p if isinstance(p, str) else p[0] for p in ci.get("packages", []))
for p in ("libvirt-daemon-system", "libvirt-daemon-driver-qemu", "qemu-system-x86", "qemu-utils", "curl"):
    check(f"cloud-init installs {p}", p in pkgs)
files = {f.get("path"): f for f in ci.get("write_files", [])}


def content(f):
    c = f.get("content", "")
    return base64.b64decode(c).decode() if f.get("encoding") in ("b64", "base64") else c


for path, var, perm in (("/etc/nestor/pki/ca.crt", "ca_crt_b64", "0644"),
                        ("/etc/nestor/pki/receiver.crt", "receiver_crt_b64", "0644"),
                        ("/etc/nestor/pki/receiver.key", "receiver_key_b64", "0600")):
    f = files.get(path)
    check(f"cloud-init writes {path} ({perm}) from {var}",
          f is not None and content(f) == f"<{var}>\n" and str(f.get("permissions")) == perm)
conf = [p for p, f in files.items() if p.startswith("/etc/nestor/receiver.conf")
        and content(f) == "<receiver_conf_b64>\n"]
check(f"cloud-init writes the receiver configuration ({conf})", len(conf) == 1)
scripts = {p: content(f) for p, f in files.items() if content(f).startswith("#!")}
check("cloud-init writes a setup script", len(scripts) == 1, str(list(scripts)))
runcmd = ci.get("runcmd", [])
ran = [c[0] if isinstance(c, list) else c.split()[0] for c in runcmd]
for p, text in scripts.items():
    check(f"runcmd runs {p}", p in ran and str(files[p].get("permissions")) == "0755")
    script = os.path.join(scratch, "setup.sh")
    open(script, "w").write(text)
    for sh in ("bash", "dash"):
        r = subprocess.run([sh, "-n", script], capture_output=True, text=True)
        check(f"{p} passes {sh} -n", r.returncode == 0, r.stderr.strip())
    check("setup installs the downloaded nestor .deb after checking its sha256",
          re.search(r"sha256sum -c.*\n(.*\n)*.*apt-get install -y[^\n]*\"\$deb\"", text) is not None)
    check("setup points receiver.conf at the written configuration", "/etc/nestor/receiver.conf" in text
          and any(c in text for c in conf))
    check("setup checks the configuration, enables and starts nestor-receiver",
          "nestor config check receiver" in text and
          re.search(r"systemctl enable --now nestor-receiver(\.service)?\b", text) is not None)
    check("setup opens the WireGuard and published ports in a running host firewall",
          re.search(r'open_port udp "\$wg_port"', text) is not None and "for p in $published" in text
          and "ufw allow" in text and "--add-port=" in text)
for p in ("nftables", "dnsmasq-base", "wireguard-tools"):
    check(f"cloud-init installs {p} (DR networks)", p in pkgs)
for c in runcmd:
    if isinstance(c, str):
        r = subprocess.run(["bash", "-n", "-c", c], capture_output=True, text=True)
        check(f"runcmd '{c}' passes bash -n", r.returncode == 0, r.stderr.strip())

# ---- README: light, every step is there ---------------------------------------
for step, needle in (("build/install the package", "make deb"), ("install the package", "apt-get install ./nestor"),
                     ("certificates", "nestor-pki.sh pki receiver"), ("agent certificates", "nestor-pki.sh pki agent"),
                     ("terraform", "terraform apply"), ("terraform validate (manual)", "terraform validate"),
                     ("receiver running", "systemctl status nestor-receiver"), ("agent", "nestor agent --once"),
                     ("agent service", "systemctl enable --now nestor-agent"), ("first drill", "nestor drill web"),
                     ("automatic checks", "test-deploy.sh"),
                     ("site lost: the DR network", "[network NAME]"),
                     ("site lost: the WireGuard peers", "nestor network peer-config"),
                     ("site lost: failover", "nestor failover web"),
                     ("site lost: the network model", "docs/network.md")):
    check(f"README covers {step} ({needle})", needle in readme)

sys.exit(1 if failed else 0)
