variable "name" {
  description = "Prefix of every resource name (functions, role, queue, bucket): lower-case letters, digits and hyphens."
  type        = string
  default     = "s3-sqs-demo"

  validation {
    # The bucket name (<name>-uploads) must be a valid S3 bucket name, the function names <= 64 characters.
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,45}$", var.name))
    error_message = "name must be 2-46 lower-case letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "runtime" {
  description = "Python runtime of both functions (AWS ships boto3 with every Python runtime)."
  type        = string
  default     = "python3.12"
}

variable "url_authorization_type" {
  description = "AuthType of the api function's URL: NONE (public) or AWS_IAM (SigV4-signed requests only)."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.url_authorization_type)
    error_message = "url_authorization_type must be NONE or AWS_IAM."
  }
}

variable "python_executable" {
  description = "Python used to build the deployment zip at apply time (standard library only)."
  type        = string
  default     = "python3"
}
