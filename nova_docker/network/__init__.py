"""Neutron ports wired into an instance's network namespace: ``plan``
(network_info -> what each port becomes, pure), ``wiring`` (os-vif and the
order of the steps), ``privileged`` (the privsep helper's pyroute2 work)."""
