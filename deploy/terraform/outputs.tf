# What the agents and the operator need after `terraform apply`.

output "receiver_address" {
  description = "Static external address of the receiver."
  value       = google_compute_address.receiver.address
}

output "agent_receiver_setting" {
  description = "Value for `receiver =` in the agents' agent.conf (set server_name to the receiver certificate's name)."
  value       = "${google_compute_address.receiver.address}:${var.receiver_port}"
}

output "ssh_command" {
  description = "SSH to the receiver through Identity-Aware Proxy."
  value       = "gcloud compute ssh ${google_compute_instance.receiver.name} --zone ${var.zone} --tunnel-through-iap"
}
