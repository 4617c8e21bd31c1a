# Conditional variances of the random effects from lme4 1.1-31 (Debian r-cran-lme4), made by
#   Rscript lmm_teach/data/lme4_condvar.R        (from the repository root)
# It writes lmm_teach/data/lme4_condvar_reference.json. R is never needed to build or test.
#
# For each data set and its typical model (as in lme4_reference.json), by ML and REML, it
# records lme4's conditional modes and their conditional covariance matrices,
#   attr(ranef(fit, condVar = TRUE)[[g]], "postVar")
# one k x k matrix per level of each grouping factor g, together with theta and sigma, so that
# a check can evaluate its own formula at lme4's estimates.
suppressMessages({library(lme4); library(jsonlite)})

grouping <- c("Subject", "Rail", "plate", "sample", "batch", "cask")
read <- function(name) {
  data <- read.csv(file.path("lmm_teach", "data", paste0(name, ".csv")), stringsAsFactors = TRUE)
  for (column in intersect(grouping, names(data))) data[[column]] <- factor(data[[column]])
  data
}
models <- list(
  list(dataset = "rail", formula = "travel ~ 1 + (1 | Rail)"),
  list(dataset = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)"),
  list(dataset = "penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  list(dataset = "pastes", formula = "strength ~ 1 + (1 | batch/cask)")
)

one_factor <- function(re) {
  post <- attr(re, "postVar")                      # k x k x J array
  k <- dim(post)[1]
  list(levels = rownames(re), columns = I(colnames(re)),
       modes = unname(as.matrix(re)),               # J x k
       postVar = lapply(seq_len(dim(post)[3]), function(j) matrix(post[, , j], k, k)))
}

one_fit <- function(formula, data, reml) {
  fit <- lmer(as.formula(formula), data = data, REML = reml)
  re <- ranef(fit, condVar = TRUE)
  list(r_call = sprintf("ranef(lmer(%s, data = %s, REML = %s), condVar = TRUE)",
                        formula, "<dataset>", reml),
       theta = I(unname(getME(fit, "theta"))), sigma = sigma(fit),
       objective = unname(fit@devcomp$cmp[if (reml) "REML" else "dev"]),
       ranef = lapply(re, one_factor))
}

records <- lapply(models, function(m) {
  data <- read(m$dataset)
  list(dataset = m$dataset, formula = m$formula,
       fits = list(ML = one_fit(m$formula, data, FALSE), REML = one_fit(m$formula, data, TRUE)))
})
writeLines(toJSON(records, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path("lmm_teach", "data", "lme4_condvar_reference.json"))
