# Nestor receiver on Compute Engine: an Intel instance with nested
# virtualization (drills boot the replicated VMs as nested KVM guests), a
# separate persistent disk for the replica store, a static address, and
# firewall rules: the receiver port to the agents' networks only, the
# WireGuard site link's UDP port and the published ports of the DR networks
# (docs/network.md; none published by default).

locals {
  # receiver.conf for the instance; see nestor.conf(5).
  receiver_conf = join("\n", concat(
    [
      "; Written by Terraform (deploy/terraform); see nestor.conf(5).",
      "[receiver]",
      "listen = 0.0.0.0:${var.receiver_port}",
      "ca = /etc/nestor/pki/ca.crt",
      "cert = /etc/nestor/pki/receiver.crt",
      "key = /etc/nestor/pki/receiver.key",
      "store = /var/lib/nestor/store",
    ],
    flatten([
      for cn, groups in var.agents : ["", "[client ${cn}]", "groups = ${join(" ", groups)}"]
    ]),
    [""],
  ))
}

resource "google_compute_address" "receiver" {
  name   = var.name
  region = var.region
}

resource "google_compute_disk" "store" {
  name = "${var.name}-store"
  zone = var.zone
  type = var.store_disk_type
  size = var.store_disk_gb
}

resource "google_compute_instance" "receiver" {
  name             = var.name
  zone             = var.zone
  machine_type     = var.machine_type
  min_cpu_platform = var.min_cpu_platform
  tags             = [var.name]

  advanced_machine_features {
    enable_nested_virtualization = true
  }

  boot_disk {
    initialize_params {
      image = var.image
      size  = var.boot_disk_gb
      type  = "pd-balanced"
    }
  }

  # Shows up as /dev/disk/by-id/google-nestor-store; cloud-init mounts it on
  # /var/lib/nestor, the only place the hardened receiver unit may write.
  attached_disk {
    source      = google_compute_disk.store.id
    device_name = "nestor-store"
  }

  network_interface {
    network    = var.network
    subnetwork = var.subnetwork

    access_config {
      nat_ip = google_compute_address.receiver.address
    }
  }

  metadata = {
    user-data = templatefile("${path.module}/../cloud-init.yaml", {
      nestor_deb_url    = var.nestor_deb_url
      nestor_deb_sha256 = var.nestor_deb_sha256
      store_device      = "/dev/disk/by-id/google-nestor-store"
      ca_crt_b64        = filebase64("${var.pki_dir}/ca.crt")
      receiver_crt_b64  = filebase64("${var.pki_dir}/${var.receiver_cert_name}.crt")
      receiver_key_b64  = filebase64("${var.pki_dir}/${var.receiver_cert_name}.key")
      receiver_conf_b64 = base64encode(local.receiver_conf)
      wireguard_port    = var.wireguard_port == null ? "" : tostring(var.wireguard_port)
      published_ports   = join(" ", [for p in var.published_ports : "${p.protocol}:${p.port}"])
    })
    # Debian's GCE images have no cloud-init: this installs it on first boot
    # (on an image that has it, the script exits at once).
    startup-script = file("${path.module}/gce-bootstrap.sh")
    enable-oslogin = "TRUE"
  }

  # The user-data holds the receiver's private key: changing it must not
  # silently rebuild the instance that holds the store.
  lifecycle {
    ignore_changes = [metadata["user-data"]]
  }
}

resource "google_compute_firewall" "receiver" {
  name          = "${var.name}-agents"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.agent_cidrs
  target_tags   = [var.name]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.receiver_port)]
  }
}

resource "google_compute_firewall" "ssh" {
  count         = length(var.admin_cidrs) > 0 ? 1 : 0
  name          = "${var.name}-ssh"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.admin_cidrs
  target_tags   = [var.name]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

# The DR networks' ways in (docs/network.md): the WireGuard site link, and the
# ports `publish =` forwards to failed-over guests. DNAT on the instance keeps
# the packets addressed to it, so the instance needs no can_ip_forward.
resource "google_compute_firewall" "wireguard" {
  count         = var.wireguard_port == null ? 0 : 1
  name          = "${var.name}-wireguard"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.wireguard_cidrs
  target_tags   = [var.name]

  allow {
    protocol = "udp"
    ports    = [tostring(var.wireguard_port)]
  }
}

resource "google_compute_firewall" "published" {
  count         = length(var.published_ports) > 0 ? 1 : 0
  name          = "${var.name}-published"
  network       = var.network
  direction     = "INGRESS"
  source_ranges = var.published_cidrs
  target_tags   = [var.name]

  dynamic "allow" {
    for_each = toset([for p in var.published_ports : p.protocol])
    content {
      protocol = allow.value
      ports    = [for p in var.published_ports : tostring(p.port) if p.protocol == allow.value]
    }
  }
}
