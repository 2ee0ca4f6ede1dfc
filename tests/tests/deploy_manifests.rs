//! `deploy/` cannot rot: every YAML parses, the Kubernetes objects fit together (selectors,
//! probes, ports, mounts), the container image runs `ncp serve --config` as a non-root user,
//! and the configuration the pods run with — the ConfigMap's `ncp.toml` joined with the
//! example Secret's `storage.toml`, as the init container joins them — passes
//! `ncp check-config` with the mounted certificate paths in place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read deploy dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// Every document of every YAML file under deploy/, by file.
fn documents() -> BTreeMap<PathBuf, Vec<Value>> {
    let mut files = Vec::new();
    yaml_files(&deploy_dir(), &mut files);
    assert!(files.len() >= 5, "deploy/ holds the manifests: {files:?}");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read YAML");
            let docs = serde_yaml_ng::Deserializer::from_str(&text)
                .map(|d| {
                    serde::Deserialize::deserialize(d)
                        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
                })
                .filter(|v: &Value| !v.is_null())
                .collect();
            (path, docs)
        })
        .collect()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    cur.as_str()
}

fn seq<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The Kubernetes objects of deploy/k8s (examples included), by `Kind/name`.
fn objects() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, docs) in documents() {
        for doc in docs {
            let Some(kind) = str_at(&doc, &["kind"]) else {
                panic!("{}: a document without kind", path.display());
            };
            if kind == "Kustomization" {
                continue;
            }
            assert!(
                str_at(&doc, &["apiVersion"]).is_some(),
                "{}: {kind} without apiVersion",
                path.display()
            );
            let name = str_at(&doc, &["metadata", "name"])
                .unwrap_or_else(|| panic!("{}: {kind} without metadata.name", path.display()));
            let previous = out.insert(format!("{kind}/{name}"), doc.clone());
            assert!(previous.is_none(), "{kind}/{name} defined twice");
        }
    }
    out
}

fn deployment() -> Value {
    objects()
        .remove("Deployment/ncp-bridge")
        .expect("Deployment ncp-bridge")
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    seq(pod, "containers")
        .iter()
        .chain(seq(pod, "initContainers"))
        .find(|c| str_at(c, &["name"]) == Some(name))
        .unwrap_or_else(|| panic!("container {name}"))
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let Some(wanted) = selector.as_mapping() else {
        return false;
    };
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn the_kustomization_lists_every_manifest_and_they_exist() {
    let dir = deploy_dir().join("k8s");
    let k: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(dir.join("kustomization.yaml")).expect("kustomization.yaml"),
    )
    .expect("kustomization is YAML");
    let listed: Vec<&str> = seq(&k, "resources")
        .iter()
        .map(|r| r.as_str().expect("resource path"))
        .collect();
    for r in &listed {
        assert!(dir.join(r).is_file(), "kustomization lists missing {r}");
    }
    for entry in std::fs::read_dir(&dir).expect("deploy/k8s") {
        let name = entry.expect("entry").file_name();
        let name = name.to_str().expect("UTF-8 name");
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(listed.contains(&name), "{name} is not in the kustomization");
        }
    }
    // The image the Deployment names is the one the kustomization sets.
    let image = str_at(&seq(&k, "images")[0], &["name"]).expect("images[0].name");
    let d = deployment();
    let pod = &d["spec"]["template"]["spec"];
    for c in seq(pod, "containers")
        .iter()
        .chain(seq(pod, "initContainers"))
    {
        assert_eq!(str_at(c, &["image"]), Some(image));
    }
}

#[test]
fn the_deployment_runs_two_replicas_with_probes_limits_and_read_only_secrets() {
    let objects = objects();
    let d = &objects["Deployment/ncp-bridge"];
    assert!(
        d["spec"]["replicas"].as_u64().unwrap_or(0) >= 2,
        "two or more replicas"
    );
    let template = &d["spec"]["template"];
    let labels = &template["metadata"]["labels"];
    assert!(labels_match(&d["spec"]["selector"]["matchLabels"], labels));
    let pod = &template["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap_or(0) > 0);

    let ncp = container(pod, "ncp");
    let args: Vec<&str> = seq(ncp, "args").iter().filter_map(Value::as_str).collect();
    assert_eq!(&args[..2], ["serve", "--config"]);
    let ops_port = seq(ncp, "ports")
        .iter()
        .find(|p| str_at(p, &["name"]) == Some("ops"))
        .and_then(|p| p["containerPort"].as_u64())
        .expect("a port named ops");
    for (probe, path) in [
        ("livenessProbe", "/health"),
        ("readinessProbe", "/ready"),
        ("startupProbe", "/health"),
    ] {
        assert_eq!(
            str_at(ncp, &[probe, "httpGet", "path"]),
            Some(path),
            "{probe}"
        );
        assert_eq!(
            str_at(ncp, &[probe, "httpGet", "port"]),
            Some("ops"),
            "{probe}"
        );
    }
    for c in seq(pod, "containers")
        .iter()
        .chain(seq(pod, "initContainers"))
    {
        let name = str_at(c, &["name"]).unwrap_or("?");
        assert!(
            c["resources"]["requests"]["cpu"].as_str().is_some()
                && c["resources"]["requests"]["memory"].as_str().is_some(),
            "{name}: resource requests"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{name}"
        );
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{name}"
        );
        // Secrets and the ConfigMap are mounted read-only wherever they are mounted.
        for m in seq(c, "volumeMounts") {
            let vol = str_at(m, &["name"]).expect("mount name");
            let volume = seq(pod, "volumes")
                .iter()
                .find(|v| str_at(v, &["name"]) == Some(vol))
                .unwrap_or_else(|| panic!("{name}: mount of undeclared volume {vol}"));
            if volume.get("secret").is_some() || volume.get("configMap").is_some() {
                assert_eq!(
                    m["readOnly"].as_bool(),
                    Some(true),
                    "{name}: {vol} read-only"
                );
            }
        }
    }
    // Every Secret and ConfigMap the pod mounts exists (Secrets: in the example).
    for v in seq(pod, "volumes") {
        if let Some(s) = str_at(v, &["secret", "secretName"]) {
            assert!(objects.contains_key(&format!("Secret/{s}")), "Secret {s}");
        }
        if let Some(c) = str_at(v, &["configMap", "name"]) {
            assert!(
                objects.contains_key(&format!("ConfigMap/{c}")),
                "ConfigMap {c}"
            );
        }
    }

    // The PDB and both Services select these pods; the ops Service reaches the ops port.
    let pdb = &objects["PodDisruptionBudget/ncp-bridge"];
    assert!(labels_match(
        &pdb["spec"]["selector"]["matchLabels"],
        labels
    ));
    assert!(pdb["spec"]["minAvailable"].as_u64().unwrap_or(0) >= 1);
    for svc in ["Service/ncp-bridge", "Service/ncp-bridge-ops"] {
        let s = &objects[svc];
        assert!(labels_match(&s["spec"]["selector"], labels), "{svc}");
        for p in seq(&s["spec"], "ports") {
            let target = str_at(p, &["targetPort"]).expect("named targetPort");
            assert!(
                seq(ncp, "ports")
                    .iter()
                    .any(|cp| str_at(cp, &["name"]) == Some(target)),
                "{svc}: no container port {target}"
            );
        }
    }
    assert_eq!(ops_port, 9090);
}

/// The file an absolute path of the configuration names, in a pod: (volume, key).
fn mounted_file<'a>(pod: &'a Value, ncp: &'a Value, path: &str) -> (&'a str, String) {
    for m in seq(ncp, "volumeMounts") {
        let at = str_at(m, &["mountPath"]).expect("mountPath");
        if let Some(key) = path.strip_prefix(&format!("{at}/")) {
            let vol = str_at(m, &["name"]).expect("mount name");
            let volume = seq(pod, "volumes")
                .iter()
                .find(|v| str_at(v, &["name"]) == Some(vol))
                .expect("volume");
            let secret = str_at(volume, &["secret", "secretName"])
                .unwrap_or_else(|| panic!("{path} is not on a Secret volume"));
            return (secret, key.to_owned());
        }
    }
    panic!("{path} is on no volume of the ncp container");
}

#[test]
fn the_configuration_the_pods_run_with_passes_check_config() {
    let objects = objects();
    let d = &objects["Deployment/ncp-bridge"];
    let pod = &d["spec"]["template"]["spec"];
    let ncp = container(pod, "ncp");
    let config_arg = seq(ncp, "args")
        .iter()
        .filter_map(Value::as_str)
        .nth(2)
        .expect("serve --config FILE");

    // The init container writes exactly that file from the ConfigMap and the database Secret.
    let init = container(pod, "render-config");
    let script = seq(init, "command")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        script.contains(&format!("> {config_arg}")),
        "{script} writes {config_arg}"
    );
    let base = str_at(&objects["ConfigMap/ncp-config"], &["data", "ncp.toml"])
        .expect("ConfigMap ncp-config data ncp.toml");
    let storage = str_at(
        &objects["Secret/ncp-database"],
        &["stringData", "storage.toml"],
    )
    .expect("Secret ncp-database storage.toml");
    assert!(script.contains("/etc/ncp/config/ncp.toml /etc/ncp/database/storage.toml"));
    let joined = format!("{base}{storage}");

    // Both stores on PostgreSQL: several replicas share them.
    let parsed: toml::Table = joined.parse().expect("joined configuration is TOML");
    for store in ["audit", "outbox"] {
        assert_eq!(
            parsed[store]["backend"]["kind"].as_str(),
            Some("postgres"),
            "{store} on PostgreSQL"
        );
    }
    // The ops listener is the port the probes use.
    let ops_listen = parsed
        .get("ops")
        .and_then(|o| o.get("listen"))
        .and_then(|l| l.as_str())
        .expect("[ops] listen: the probes need it");
    assert!(
        ops_listen.ends_with(":9090"),
        "[ops] listen {ops_listen} vs port ops"
    );
    assert!(
        parsed["server"]["listen"]
            .as_str()
            .is_some_and(|l| l.ends_with(":8443")),
        "server.listen on the ncp-mtls port"
    );

    // Every absolute path is a key of a Secret mounted into the ncp container: make real
    // files (the test PKI) at those paths under a temp root, and check the configuration.
    let tmp = tempfile::tempdir().expect("temp dir");
    let pki = ncp_core::pki::TestPki::ensure(&tmp.path().join("pki")).expect("test PKI");
    let mut rewritten = joined.clone();
    let mut seen = 0;
    for quoted in joined.split('"').skip(1).step_by(2) {
        if !quoted.starts_with("/etc/ncp/") {
            continue;
        }
        let (secret, key) = mounted_file(pod, ncp, quoted);
        let example = &objects[&format!("Secret/{secret}")];
        assert!(
            str_at(example, &["stringData", &key]).is_some(),
            "{quoted}: Secret {secret} has no key {key}"
        );
        let source = if key.ends_with(".key") {
            &pki.server_key
        } else if key.contains("crt") {
            &pki.server_cert
        } else {
            &pki.ca_cert
        };
        let local = tmp.path().join(quoted.trim_start_matches('/'));
        std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
        std::fs::copy(source, &local).expect("copy PKI file");
        rewritten = rewritten.replace(quoted, &local.display().to_string());
        seen += 1;
    }
    assert!(seen >= 4, "cert, key and both trust lists are files");
    let file = tmp.path().join("ncp.toml");
    std::fs::write(&file, &rewritten).expect("write config");
    let out = Command::new(e2e_tests::ncp_binary())
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run ncp check-config");
    assert!(
        out.status.success(),
        "ncp check-config refused the deployed configuration:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_image_runs_ncp_serve_as_a_non_root_user() {
    let dockerfile =
        std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("deploy/Dockerfile");
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a builder and a runtime stage: {stages:?}");
    assert!(stages[1].contains("-slim"), "slim runtime: {}", stages[1]);
    let runtime = dockerfile.split("\nFROM ").last().expect("runtime stage");
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.trim().parse().ok())
        .expect("numeric USER");
    assert!(uid >= 1000, "non-root USER {user}");
    assert!(runtime.contains("libxmlsec1"), "runtime has libxmlsec1");
    assert!(runtime.contains(r#"ENTRYPOINT ["/usr/local/bin/ncp"]"#));
    // The default command reads the file the Deployment's init container writes.
    let d = deployment();
    let ncp = container(&d["spec"]["template"]["spec"], "ncp");
    let args: Vec<String> = seq(ncp, "args")
        .iter()
        .filter_map(Value::as_str)
        .map(|a| format!("{a:?}"))
        .collect();
    assert!(
        runtime.contains(&format!("CMD [{}]", args.join(", "))),
        "CMD matches the Deployment's args {args:?}"
    );
    // The builder installs what ./dev installs to build.
    let dev = std::fs::read_to_string(deploy_dir().join("../dev")).expect("dev script");
    let build_pkgs = dev
        .lines()
        .find_map(|l| l.strip_prefix("build_pkgs=("))
        .and_then(|l| l.strip_suffix(')'))
        .expect("build_pkgs in ./dev");
    for pkg in build_pkgs.split_whitespace() {
        assert!(
            dockerfile.contains(pkg),
            "the builder stage lacks {pkg} (./dev build_pkgs)"
        );
    }
    // The image's unit user owns nothing the pod needs to write but /tmp.
    assert_eq!(
        d["spec"]["template"]["spec"]["securityContext"]["runAsUser"].as_u64(),
        Some(u64::from(uid))
    );
}
