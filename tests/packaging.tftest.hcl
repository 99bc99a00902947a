# The zip is built in HCL (terraform_data + scripts/package_lambda.py): it exists, holds
# the handler, and its name and hash depend on the sources only.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "build" {
  command = apply

  assert {
    condition     = fileexists(terraform_data.package.output)
    error_message = "terraform_data must build the zip at apply time"
  }
  assert {
    condition     = terraform_data.package.output == "./builds/lambda-${terraform_data.package.triggers_replace}.zip"
    error_message = "the zip must be named after the content hash, under the module's builds/ dir"
  }
  assert {
    # A zip starts with a local file header: "PK\x03\x04" and 26 bytes of fields, then
    # the first entry's name. 30 bytes are exactly 40 base64 characters, so the name's
    # encoding can be compared in place: the first (and, sorted, only) entry is the handler.
    condition     = substr(filebase64(terraform_data.package.output), 0, 4) == "UEsD" && substr(filebase64(terraform_data.package.output), 40, 32) == substr(base64encode("lambda_function_square.py"), 0, 32)
    error_message = "the zip's first entry must be lambda_function_square.py"
  }
  assert {
    condition     = aws_lambda_function.this.source_code_hash == base64sha256(local.source_manifest)
    error_message = "source_code_hash must be derived from the sources, not the zip bytes"
  }
  assert {
    condition     = local.source_files == tolist(["lambda_function_square.py"])
    error_message = "lambda/ must hold only the handler: the zip carries exactly what the function needs"
  }
}

run "same_sources_same_hash" {
  # Another function from the same sources: same content hash, same zip, no rebuild.
  command = plan

  variables {
    function_name = "square_again"
  }

  assert {
    condition     = aws_lambda_function.this.source_code_hash == run.build.source_code_hash
    error_message = "the same sources must give the same source_code_hash"
  }
  assert {
    # Known at plan time only if terraform_data is not replaced, i.e. no rebuild planned.
    condition     = fileexists(terraform_data.package.output)
    error_message = "the same sources must reuse the built zip"
  }
}
