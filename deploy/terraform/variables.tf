# Inputs of the Nestor receiver deployment (see deploy/README.md).

variable "project" {
  description = "Google Cloud project ID."
  type        = string
}

variable "region" {
  description = "Region of the static address and the instance."
  type        = string
  default     = "europe-west1"
}

variable "zone" {
  description = "Zone of the instance and its store disk."
  type        = string
  default     = "europe-west1-b"
}

variable "name" {
  description = "Name of the instance; prefixes the disk, address and firewall rules."
  type        = string
  default     = "nestor-receiver"
}

variable "machine_type" {
  description = "Intel machine type (nested virtualization needs Intel CPUs): N1, N2, C2, C3 or M families."
  type        = string
  default     = "n2-standard-8"

  validation {
    condition     = can(regex("^(n1|n2|c2|c3|m1|m2|m3)-", var.machine_type))
    error_message = "Nested virtualization needs an Intel machine type: n1-, n2-, c2-, c3-, m1-, m2- or m3-."
  }
}

variable "min_cpu_platform" {
  description = "Minimum Intel CPU platform, e.g. \"Intel Cascade Lake\"; null for the zone's default."
  type        = string
  default     = null
}

variable "image" {
  description = "Boot image; the cloud-init setup expects Debian 12."
  type        = string
  default     = "debian-cloud/debian-12"
}

variable "boot_disk_gb" {
  description = "Boot disk size in GB (system, packages, drill overlays live in the store)."
  type        = number
  default     = 30
}

variable "store_disk_gb" {
  description = "Store disk size in GB: the protected disks' size plus the retained changes."
  type        = number
  default     = 500

  validation {
    condition     = var.store_disk_gb >= 10
    error_message = "The store disk must be at least 10 GB."
  }
}

variable "store_disk_type" {
  description = "Store disk type: pd-balanced, pd-ssd or pd-standard."
  type        = string
  default     = "pd-balanced"
}

variable "network" {
  description = "VPC network of the instance."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork of the instance; null for the network's default in the region."
  type        = string
  default     = null
}

variable "receiver_port" {
  description = "TCP port the receiver listens on."
  type        = number
  default     = 7400
}

variable "agent_cidrs" {
  description = "Source CIDRs of the on-prem agents: the only addresses allowed to reach the receiver port."
  type        = list(string)

  validation {
    condition     = length(var.agent_cidrs) > 0 && !contains(var.agent_cidrs, "0.0.0.0/0")
    error_message = "List the agents' address ranges; 0.0.0.0/0 is not allowed."
  }
}

variable "admin_cidrs" {
  description = "Source CIDRs allowed to SSH to the instance (default: Identity-Aware Proxy only)."
  type        = list(string)
  default     = ["35.235.240.0/20"]
}

variable "agents" {
  description = "Agent certificate names (CN) and the protection groups each may write ([\"*\"] for any)."
  type        = map(list(string))

  validation {
    condition     = length(var.agents) > 0
    error_message = "At least one agent is needed."
  }
}

variable "pki_dir" {
  description = "Directory made by nestor-pki.sh holding ca.crt, receiver.crt and receiver.key."
  type        = string
}

variable "receiver_cert_name" {
  description = "NAME given to `nestor-pki.sh DIR receiver NAME`: the files pki_dir/NAME.crt and NAME.key."
  type        = string
  default     = "receiver"
}

variable "nestor_deb_url" {
  description = "HTTPS URL the instance downloads the nestor .deb from (e.g. a signed Cloud Storage URL)."
  type        = string
}

variable "nestor_deb_sha256" {
  description = "SHA-256 of the .deb (sha256sum build/nestor_*.deb)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.nestor_deb_sha256))
    error_message = "Give the 64 hex digits printed by sha256sum."
  }
}

variable "wireguard_port" {
  description = "UDP port of the WireGuard site link of the DR networks (docs/network.md), opened to wireguard_cidrs; null keeps it closed."
  type        = number
  default     = 51820

  validation {
    condition     = var.wireguard_port == null ? true : var.wireguard_port >= 1 && var.wireguard_port <= 65535
    error_message = "A UDP port 1-65535, or null."
  }
}

variable "wireguard_cidrs" {
  description = "Source CIDRs of the branch offices and laptops that may reach the WireGuard port (WireGuard answers only its peers' keys)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "published_ports" {
  description = "The external ports of the DR networks' `publish =` entries (receiver.conf), opened to published_cidrs; they lead somewhere only while a group is failed over. Default: none."
  type = list(object({
    protocol = string
    port     = number
  }))
  default = []

  validation {
    condition = alltrue([
      for p in var.published_ports : contains(["tcp", "udp"], p.protocol) && p.port >= 1 && p.port <= 65535
    ])
    error_message = "Each published port is { protocol = \"tcp\" or \"udp\", port = 1-65535 }."
  }
}

variable "published_cidrs" {
  description = "Source CIDRs allowed to reach the published ports (the users of the failed-over services)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}
