variable "function_name" {
  description = "Name of the Lambda function; also names its log group (/aws/lambda/NAME) and IAM role (NAME-role)."
  type        = string
  default     = "square"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of letters, digits, hyphens and underscores."
  }
}

variable "runtime" {
  description = "Lambda runtime identifier; the handler is plain Python 3 (standard library only)."
  type        = string
  default     = "python3.11"

  validation {
    condition     = contains(["python3.9", "python3.10", "python3.11", "python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be a supported Python runtime: python3.9, python3.10, python3.11, python3.12 or python3.13."
  }
}

variable "handler" {
  description = "Entry point as MODULE.FUNCTION; the module file must exist in lambda/."
  type        = string
  default     = "lambda_function_square.lambda_handler"

  validation {
    condition     = length(var.handler) <= 128 && can(regex("^[A-Za-z0-9_./-]+\\.[A-Za-z_][A-Za-z0-9_]*$", var.handler))
    error_message = "handler must look like MODULE.FUNCTION (e.g. lambda_function_square.lambda_handler), at most 128 characters."
  }
}

variable "memory_size" {
  description = "Memory in MB available to the function (128-10240)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Maximum run time of one invocation, in seconds (1-900)."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "environment_variables" {
  description = "Environment variables for the function. Keys must be valid identifiers and must not be Lambda's reserved names."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.environment_variables) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", key))])
    error_message = "environment_variables keys must start with a letter and contain only letters, digits and underscores."
  }

  validation {
    # Lambda rejects these at CreateFunction time; failing at plan time is kinder.
    condition = length(setintersection(keys(var.environment_variables), [
      "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
      "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
      "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
      "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
      "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ])) == 0
    error_message = "environment_variables must not set Lambda's reserved variables (AWS_REGION, AWS_LAMBDA_*, _HANDLER, LAMBDA_TASK_ROOT, ...)."
  }
}

variable "architectures" {
  description = "Instruction set of the function: [\"x86_64\"] or [\"arm64\"]."
  type        = list(string)
  default     = ["x86_64"]

  validation {
    condition     = length(var.architectures) == 1 && alltrue([for a in var.architectures : contains(["x86_64", "arm64"], a)])
    error_message = "architectures must hold exactly one of \"x86_64\" or \"arm64\"."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the function's CloudWatch log group, in days (a CloudWatch-supported value; 0 keeps logs forever)."
  type        = number
  default     = 14

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_id" {
  description = "Optional KMS key ARN to encrypt the log group with (the key policy must allow CloudWatch Logs). null uses CloudWatch's default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:", var.log_kms_key_id))
    error_message = "log_kms_key_id must be a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "environment_kms_key_arn" {
  description = "Optional KMS key ARN to encrypt the function's environment variables with. null uses Lambda's AWS-managed key."
  type        = string
  default     = null

  validation {
    condition     = var.environment_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.environment_kms_key_arn))
    error_message = "environment_kms_key_arn must be a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capping) the function; -1 leaves it unreserved. Caps the cost of a public URL under load."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or a whole number >= 0."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: \"PassThrough\" (Lambda's default, no sampling by the function) or \"Active\" (samples and sends traces; adds an xray:PutTraceSegments/PutTelemetryRecords policy, which X-Ray only grants on \"*\")."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be \"PassThrough\" or \"Active\"."
  }
}

variable "authorization_type" {
  description = "Function URL auth: \"NONE\" (public, unsigned requests) or \"AWS_IAM\" (SigV4-signed requests only)."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.authorization_type)
    error_message = "authorization_type must be \"NONE\" or \"AWS_IAM\"."
  }
}

variable "cors" {
  description = "Optional CORS settings of the Function URL; null disables CORS. Omitted attributes default to empty lists / false / 0."
  type = object({
    allow_credentials = optional(bool, false)
    allow_headers     = optional(list(string), [])
    allow_methods     = optional(list(string), [])
    allow_origins     = optional(list(string), [])
    expose_headers    = optional(list(string), [])
    max_age           = optional(number, 0)
  })
  default = null

  validation {
    condition = var.cors == null ? true : alltrue([
      for method in var.cors.allow_methods : contains(["*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], upper(method))
    ])
    error_message = "cors.allow_methods entries must be HTTP methods (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS) or \"*\"."
  }

  validation {
    condition     = var.cors == null ? true : (var.cors.max_age >= 0 && var.cors.max_age <= 86400)
    error_message = "cors.max_age must be between 0 and 86400 seconds."
  }
}

variable "invoke_mode" {
  description = "Function URL invoke mode: \"BUFFERED\" (whole response at once) or \"RESPONSE_STREAM\"."
  type        = string
  default     = "BUFFERED"

  validation {
    condition     = contains(["BUFFERED", "RESPONSE_STREAM"], var.invoke_mode)
    error_message = "invoke_mode must be \"BUFFERED\" or \"RESPONSE_STREAM\"."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource (role, log group, function)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "python_executable" {
  description = "Python 3 interpreter that builds the deployment zip on the machine running Terraform (e.g. \"python3\", \"python\" on Windows, or an absolute path)."
  type        = string
  default     = "python3"

  validation {
    condition     = length(trimspace(var.python_executable)) > 0
    error_message = "python_executable must name a Python 3 interpreter."
  }
}
