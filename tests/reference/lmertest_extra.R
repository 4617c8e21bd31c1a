# Satterthwaite references for tests/test_satterthwaite.py, made with lmerTest 3.1-3 and lme4
# 1.1-31 (Debian r-cran-lmertest, r-cran-lme4) by
#   Rscript tests/reference/lmertest_extra.R      (from the repository root)
# It writes tests/reference/lmertest_extra.json. R is not needed to run the tests.
# Each case: summary(lmerTest::lmer(formula, data, REML = reml))$coefficients.
suppressMessages({library(lmerTest); library(jsonlite)})

read <- function(name) read.csv(file.path("lmm_teach", "data", paste0(name, ".csv")),
                                stringsAsFactors = TRUE)
sleep <- read("sleepstudy"); sleep$Subject <- factor(sleep$Subject)
# the change of tests/test_lmer_extra.py's CHANGES: arm A for the first 9 subjects
sleep_groups <- transform(sleep, arm = ifelse(as.integer(Subject) <= 9, "A", "B"))
pastes <- read("pastes")

cases <- list(
  list(name = "sleep_interaction", data = "sleep_groups", frame = sleep_groups,
       formula = "Reaction ~ Days * arm + (1 | Subject)", reml = TRUE),
  list(name = "pastes", data = "pastes", frame = pastes,
       formula = "strength ~ 1 + (1 | batch/cask)", reml = TRUE),
  list(name = "sleepstudy_ml", data = "sleepstudy", frame = sleep,
       formula = "Reaction ~ Days + (Days | Subject)", reml = FALSE)
)

one <- function(case) {
  fit <- lmer(as.formula(case$formula), data = case$frame, REML = case$reml)
  table <- summary(fit)$coefficients
  list(name = case$name, data = case$data, formula = case$formula, reml = case$reml,
       r_call = sprintf("summary(lmerTest::lmer(%s, data = %s, REML = %s))$coefficients",
                        case$formula, case$data, case$reml),
       rows = I(rownames(table)), estimate = I(unname(table[, "Estimate"])),
       se = I(unname(table[, "Std. Error"])), df = I(unname(table[, "df"])),
       t = I(unname(table[, "t value"])), p = I(unname(table[, "Pr(>|t|)"])))
}

writeLines(toJSON(list(lmerTest_version = as.character(packageVersion("lmerTest")),
                       cases = lapply(cases, one)),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "lmertest_extra.json"))
