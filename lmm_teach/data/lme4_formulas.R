# lme4 1.1-31 (Debian r-cran-lme4) fits of the models of chapter 14 ("How lme4 reads a
# formula"), made by
#   Rscript lmm_teach/data/lme4_formulas.R        (from the repository root)
# It writes lmm_teach/data/lme4_formula_reference.json. R is never needed to build or test.
# Every model uses data shipped with the package; the Python chapter fits the same formula
# (and the same weights) to the same CSV file, by ML and by REML.
suppressMessages({library(lme4); library(jsonlite)})

read <- function(name, groups) {
  data <- read.csv(file.path("lmm_teach", "data", paste0(name, ".csv")))
  for (column in groups) data[[column]] <- factor(data[[column]])
  data
}
sleep <- read("sleepstudy", "Subject")
cbpp <- read("cbpp", c("herd", "period"))
# A two-level factor for the double-bar trap; the chapter derives the same column in Python.
sleep$phase <- factor(ifelse(sleep$Days < 5, "early", "late"))

models <- list(
  list(name = "power", data = "sleepstudy", formula = "Reaction ~ Days + I(Days^2) + (Days | Subject)"),
  list(name = "factor", data = "sleepstudy", formula = "Reaction ~ factor(Days) + (1 | Subject)"),
  list(name = "log_response", data = "sleepstudy", formula = "log(Reaction) ~ Days + (Days | Subject)"),
  list(name = "double_bar", data = "sleepstudy", formula = "Reaction ~ Days + (Days || Subject)"),
  list(name = "double_bar_factor", data = "sleepstudy",
       formula = "Reaction ~ phase + (phase || Subject)"),
  list(name = "scale", data = "sleepstudy", formula = "Reaction ~ scale(Days) + (scale(Days) | Subject)"),
  list(name = "poly", data = "sleepstudy", formula = "Reaction ~ poly(Days, 2) + (Days | Subject)"),
  list(name = "weights", data = "cbpp", formula = "I(incidence/size) ~ period + (1 | herd)",
       weights = "size")
)

one_fit <- function(model, reml) {
  frame <- if (model$data == "cbpp") cbpp else sleep
  call <- if (is.null(model$weights)) {
    sprintf("lmer(%s, data = %s, REML = %s)", model$formula, model$data, reml)
  } else {
    sprintf("lmer(%s, data = %s, weights = %s, REML = %s)", model$formula, model$data,
            model$weights, reml)
  }
  fit <- if (is.null(model$weights)) {
    lmer(as.formula(model$formula), data = frame, REML = reml)
  } else {
    lmer(as.formula(model$formula), data = frame, REML = reml, weights = frame[[model$weights]])
  }
  list(r_call = call, loglik = as.numeric(logLik(fit)),
       objective = unname(fit@devcomp$cmp[if (reml) "REML" else "dev"]),
       fixef = as.list(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       sigma = sigma(fit), theta = I(unname(getME(fit, "theta"))),
       theta_names = I(names(getME(fit, "theta"))), nobs = nobs(fit),
       X_columns = I(colnames(getME(fit, "X"))))
}

records <- lapply(models, function(m) {
  list(name = m$name, dataset = m$data, formula = m$formula,
       weights = if (is.null(m$weights)) NULL else m$weights,
       fits = list(ML = one_fit(m, FALSE), REML = one_fit(m, TRUE)))
})
writeLines(toJSON(records, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
           file.path("lmm_teach", "data", "lme4_formula_reference.json"))
