"""What is specific to this repository's square module (the Terraform module in the repo root): what a copy of it
needs, its smoke call, its leftover check (:mod:`.module`), and ``make deploy`` / ``make destroy`` in the repo root
(:mod:`.root_deploy`). The rest of the harness is generic and knows nothing of it."""
