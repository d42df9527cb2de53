#!/bin/sh
# Compute Engine startup-script: Google's Debian images run the metadata
# startup-script on every boot but ship no cloud-init, so the instance's
# user-data (deploy/cloud-init.yaml) would be ignored. Install cloud-init once
# and run its stages against the GCE metadata; later boots use its own units.
set -eu
command -v cloud-init >/dev/null 2>&1 && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q cloud-init
# Only the user-data: the guest agent keeps owning networking and SSH keys.
cat > /etc/cloud/cloud.cfg.d/90-nestor-gce.cfg <<'EOC'
datasource_list: [GCE]
network: {config: disabled}
ssh_deletekeys: false
EOC
cloud-init init --local
cloud-init init
cloud-init modules --mode=config
cloud-init modules --mode=final
