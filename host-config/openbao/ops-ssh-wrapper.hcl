# Policy for the operators' tool (ops-ssh-wrapper): sign a public key with the
# lane's SSH role, nothing else.
path "ssh-client-signer/sign/interhub-bootstrap" {
  capabilities = ["update"]
}
